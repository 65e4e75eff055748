"""The caller's own profile and password."""

from fastapi import APIRouter, Response

from backend.api.deps import AppRuntime, DbSession, Me
from backend.api.schemas.errors import GUARDED_RESPONSES, ErrorBody
from backend.api.schemas.me import MeResponse, PasswordChange, TenantSummary
from backend.api.schemas.roles import ScopeChainOut
from backend.services import credentials, roles, users

router = APIRouter(tags=["me"])


@router.get(
    "/me",
    response_model=MeResponse,
    responses=GUARDED_RESPONSES,
)
def read_me(principal: Me, db: DbSession, runtime: AppRuntime) -> MeResponse:
    """Who you are: your tenant, your roles and the scopes they give you now, with the
    chains of roles that give each (`scope_chains`, as in GET /users/{id}/effective-scopes)."""
    profile = users.get_profile(
        db,
        principal.tenant_id,
        principal.require_user(),
        platform_tenant_slug=runtime.settings.platform_tenant_slug,
    )
    return MeResponse(
        id=profile.user.id,
        email=profile.user.email,
        full_name=profile.user.full_name,
        status=profile.user.status.value,
        tenant=TenantSummary(
            id=profile.tenant.id, slug=profile.tenant.slug, name=profile.tenant.name
        ),
        roles=profile.roles,
        scopes=sorted(profile.scopes),
        token_scopes=sorted(principal.scopes),
        scope_chains=[
            ScopeChainOut.of(e)
            for e in roles.explain(
                db,
                principal.tenant_id,
                profile.user.id,
                platform=profile.tenant.slug == runtime.settings.platform_tenant_slug,
            )
        ],
    )


@router.patch(
    "/me/password",
    status_code=204,
    responses={
        **GUARDED_RESPONSES,
        400: {"model": ErrorBody, "description": "Wrong current password or refresh_token"},
    },
)
def change_password(
    body: PasswordChange, principal: Me, db: DbSession, runtime: AppRuntime
) -> Response:
    """Change your password. The new one must pass the tenant's policy (422 with the
    reason). Every access token issued so far stops working, yours included, and every
    session ends except the one whose `refresh_token` you send: refresh with it for a
    new access token. A wrong current password is 400 and counts as a failed login
    towards the lockout."""
    credentials.change_own_password(
        db,
        runtime.passwords,
        principal,
        current=body.current_password.get_secret_value(),
        new=body.new_password.get_secret_value(),
        keep_refresh_token=body.refresh_token,
    )
    return Response(status_code=204)
