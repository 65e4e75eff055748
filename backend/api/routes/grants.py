"""A user's roles: grants (roles:read, roles:assign) and the effective scopes they give
(users:read). Grant changes accept `?dry_run=true`, as role changes do."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Response

from backend.api.deps import (
    AppEffects,
    DbSession,
    RolesAssign,
    RolesAssignSteppedUp,
    RolesRead,
    UsersRead,
)
from backend.api.schemas.errors import (
    CONFLICT,
    FORBIDDEN,
    GUARDED_RESPONSES,
    NOT_FOUND,
    ErrorBody,
)
from backend.api.schemas.grants import GrantOut, GrantRequest
from backend.api.schemas.impact import DRY_RUN_RESPONSE, DryRun, DryRunOut, dry_run_response
from backend.api.schemas.roles import EffectiveScopesOut, ScopeChainOut
from backend.services import grants, role_impact, roles, users
from backend.services.grants import Assigned

router = APIRouter(prefix="/users", tags=["roles"])

CHANGE_RESPONSES = {**GUARDED_RESPONSES, **FORBIDDEN, **NOT_FOUND, **CONFLICT}


@router.get(
    "/{id}/roles", response_model=list[GrantOut], responses={**GUARDED_RESPONSES, **NOT_FOUND}
)
def list_grants(id: uuid.UUID, principal: RolesRead, db: DbSession) -> list[GrantOut]:
    """The roles granted to a user directly, by name, with who granted them, when, and
    until when; lapsed grants are listed with `active: false`."""
    return [GrantOut.of(g) for g in grants.list_grants(db, principal.tenant_id, id)]


@router.put(
    "/{id}/roles/{role_id}",
    response_model=GrantOut | DryRunOut,
    responses={
        **CHANGE_RESPONSES,
        201: {"model": GrantOut, "description": "The grant was made"},
        400: {"model": ErrorBody, "description": "expires_at is not in the future"},
    },
)
def assign_role(
    id: uuid.UUID,
    role_id: uuid.UUID,
    principal: RolesAssignSteppedUp,
    db: DbSession,
    effects: AppEffects,
    response: Response,
    body: Annotated[GrantRequest | None, Body()] = None,
    dry_run: DryRun = False,
) -> GrantOut | DryRunOut:
    """Grant a role (201), or set the expiry of a grant the user already holds (200;
    idempotent). Every scope of the role's closure must be yours (403). An expiry on
    the last active owner's owner grant is 409."""
    expires_at = body.expires_at if body is not None else None

    def change() -> role_impact.Changed[Assigned]:
        return grants.assign(db, effects, principal, id, role_id, expires_at=expires_at)

    if dry_run:
        return DryRunOut.of(role_impact.preview(db, principal.tenant_id, change))
    assigned = change().result
    response.status_code = 201 if assigned.created else 200
    return GrantOut.of(assigned.grant)


@router.delete(
    "/{id}/roles/{role_id}",
    status_code=204,
    response_model=None,
    responses={**CHANGE_RESPONSES, **DRY_RUN_RESPONSE},
)
def unassign_role(
    id: uuid.UUID,
    role_id: uuid.UUID,
    principal: RolesAssign,
    db: DbSession,
    effects: AppEffects,
    dry_run: DryRun = False,
) -> Response:
    """Take a role back (404 if the user does not hold it). Every scope of the role's
    closure must be yours (403); the last active owner keeps the owner role (409). If the
    user loses a scope, their access tokens are cut off at once."""

    def change() -> role_impact.Changed[None]:
        return grants.unassign(db, effects, principal, id, role_id)

    if dry_run:
        return dry_run_response(role_impact.preview(db, principal.tenant_id, change))
    change()
    return Response(status_code=204)


@router.get(
    "/{id}/effective-scopes",
    response_model=EffectiveScopesOut,
    responses={**GUARDED_RESPONSES, **NOT_FOUND},
)
def effective_scopes(id: uuid.UUID, principal: UsersRead, db: DbSession) -> EffectiveScopesOut:
    """Why a user holds each of their scopes: every chain of roles from a role granted to
    them, through inclusion, to the role that carries the scope (`chains`, granted role
    first), also as text (`explained`: `users:write <- admin <- owner`)."""
    users.get(db, principal.tenant_id, id)
    explained = roles.explain(db, principal.tenant_id, id, platform=principal.platform)
    return EffectiveScopesOut(user_id=id, scopes=[ScopeChainOut.of(e) for e in explained])
