"""The principal's own profile and password."""

from collections.abc import Hashable
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from backend.api.deps import AppRuntime, DbSession, Me, MeSteppedUp, in_thread, runtime_of
from backend.api.lean import LeanRoute
from backend.api.schemas.errors import GUARDED_RESPONSES, ErrorBody
from backend.api.schemas.me import MeResponse, PasswordChange, TenantSummary
from backend.api.schemas.roles import ScopeChainOut
from backend.runtime import Runtime
from backend.services import credentials, profiles
from backend.services.principals import Principal

router = APIRouter(tags=["me"])


async def read_me(principal: Me, db: DbSession, request: Request) -> Response:
    """Who you are: your tenant, your roles and the scopes they give you now, with the
    chains of roles that give each (`scope_chains`, as in GET /users/{id}/effective-scopes)."""
    runtime = runtime_of(request)
    user_id = principal.require_user()
    key = (user_id, principal.scopes)
    # Rendered once per cache fill, so a repeat costs no model building at all.
    body = runtime.principal_cache.profile(principal.tenant_id, key)
    if body is None:
        body = await _fill_profile(runtime, db, principal, key)
    return Response(body, media_type="application/json")


# The hot read: answered without FastAPI's dependency solving (api/lean.py).
router.add_api_route(
    "/me",
    read_me,
    methods=["GET"],
    response_model=MeResponse,
    responses=GUARDED_RESPONSES,
    route_class_override=LeanRoute,
)


async def _fill_profile(
    runtime: Runtime, db: Session, principal: Principal, key: Hashable
) -> bytes:
    """Read and render the principal's profile, and keep it until its first grant expires."""
    cache, tenant_id, user_id = (
        runtime.principal_cache,
        principal.tenant_id,
        principal.require_user(),
    )
    since = cache.generation

    def load() -> tuple[bytes, datetime | None]:
        profile = profiles.get_profile(db, tenant_id, user_id, platform=principal.platform)
        return _render(profile, principal.scopes), profile.holding.changes_at

    body, changes_at = await in_thread(db, load)
    lifetime = None if changes_at is None else (changes_at - datetime.now(UTC)).total_seconds()
    cache.keep_profile(tenant_id, key, body, since=since, valid_for=lifetime)
    return body


def _render(profile: profiles.Profile, token_scopes: frozenset[str]) -> bytes:
    user, tenant, holding = profile.user, profile.tenant, profile.holding
    return (
        MeResponse(
            id=user.id,
            email=user.email,
            email_verified=user.email_verified_at is not None,
            full_name=user.full_name,
            status=user.status.value,
            tenant=TenantSummary(id=tenant.id, slug=tenant.slug, name=tenant.name),
            roles=holding.roles,
            scopes=sorted(holding.scopes),
            token_scopes=sorted(token_scopes),
            scope_chains=[ScopeChainOut.of(e) for e in holding.explained],
        )
        .model_dump_json()
        .encode()
    )


@router.patch(
    "/me/password",
    status_code=204,
    responses={
        **GUARDED_RESPONSES,
        400: {
            "model": ErrorBody,
            "description": "Wrong current password or refresh_token, or the account locked",
        },
    },
)
def change_password(
    body: PasswordChange, principal: MeSteppedUp, db: DbSession, runtime: AppRuntime
) -> Response:
    """Change your password. The new one must pass the tenant's policy (422 with the
    reason). Every access token issued so far stops working, yours included, and every
    session ends except the one whose `refresh_token` you send: refresh with it for a
    new access token. A wrong current password is 400 and counts as a failed login
    towards the lockout; while the account is locked, no current password is checked
    (400, saying so)."""
    credentials.change_own_password(
        db,
        runtime.effects,
        runtime.passwords,
        principal,
        current=body.current_password.get_secret_value(),
        new=body.new_password.get_secret_value(),
        keep_refresh_token=body.refresh_token,
    )
    return Response(status_code=204)
