"""Roles of the principal's tenant (scopes roles:read and roles:write).

Every change accepts `?dry_run=true`: it is then checked and made inside a savepoint
that is rolled back, and the answer is the impact it would have had.
"""

import uuid

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from backend.api.deps import AppEffects, DbSession, RolesRead, RolesWrite
from backend.api.schemas.errors import CONFLICT, FORBIDDEN, GUARDED_RESPONSES, NOT_FOUND
from backend.api.schemas.impact import DRY_RUN_RESPONSE, DryRun, DryRunOut, dry_run_response
from backend.api.schemas.roles import RoleCreate, RoleOut, RoleUpdate
from backend.services import role_admin, role_impact, roles
from backend.services.roles import RoleView

router = APIRouter(prefix="/roles", tags=["roles"])

CHANGE_RESPONSES = {**GUARDED_RESPONSES, **FORBIDDEN, **NOT_FOUND, **CONFLICT}


@router.get("", response_model=list[RoleOut], responses=GUARDED_RESPONSES)
def list_roles(principal: RolesRead, db: DbSession) -> list[RoleOut]:
    """Every role of your tenant by name, built-ins included (at most 500)."""
    return [RoleOut.of(view) for view in roles.list_roles(db, principal.tenant_id)]


@router.post(
    "",
    status_code=201,
    response_model=RoleOut,
    responses={**CHANGE_RESPONSES, **DRY_RUN_RESPONSE},
)
def create_role(
    body: RoleCreate,
    principal: RolesWrite,
    db: DbSession,
    dry_run: DryRun = False,
) -> RoleOut | JSONResponse:
    """Create a custom role. Every scope of its closure (its own and its included
    roles') must be yours (403 with `missing_scopes`); an included role that is not in
    your tenant is 404; a taken name 409; a platform scope outside the platform tenant
    422."""

    def change() -> role_impact.Changed[RoleView]:
        return role_admin.create_role(
            db,
            principal,
            name=body.name,
            description=body.description,
            scopes=frozenset(body.scopes),
            includes=frozenset(body.includes),
        )

    if dry_run:
        return dry_run_response(role_impact.preview(db, principal.tenant_id, change))
    return RoleOut.of(change().result)


@router.get("/{id}", response_model=RoleOut, responses={**GUARDED_RESPONSES, **NOT_FOUND})
def get_role(id: uuid.UUID, principal: RolesRead, db: DbSession) -> RoleOut:
    """One role with its scopes and the ids of the roles it includes."""
    return RoleOut.of(roles.get_role(db, principal.tenant_id, id))


@router.patch("/{id}", response_model=RoleOut | DryRunOut, responses=CHANGE_RESPONSES)
def update_role(
    id: uuid.UUID,
    body: RoleUpdate,
    principal: RolesWrite,
    db: DbSession,
    effects: AppEffects,
    dry_run: DryRun = False,
) -> RoleOut | DryRunOut:
    """Edit a custom role: only the fields sent change. You must hold every scope of its
    closure before and after (403); built-in roles are fixed (409); an inclusion that
    closes a cycle is 409 with the `cycle`. Whoever loses a scope by the edit has their
    access tokens cut off at once."""

    def change() -> role_impact.Changed[RoleView]:
        return role_admin.update_role(
            db,
            effects,
            principal,
            id,
            name=body.name,
            description=body.description,
            scopes=frozenset(body.scopes) if body.scopes is not None else None,
            includes=frozenset(body.includes) if body.includes is not None else None,
        )

    if dry_run:
        return DryRunOut.of(role_impact.preview(db, principal.tenant_id, change))
    return RoleOut.of(change().result)


@router.delete(
    "/{id}",
    status_code=204,
    response_model=None,
    responses={**CHANGE_RESPONSES, **DRY_RUN_RESPONSE},
)
def delete_role(
    id: uuid.UUID,
    principal: RolesWrite,
    db: DbSession,
    effects: AppEffects,
    dry_run: DryRun = False,
) -> Response:
    """Delete a custom role and every grant of it; built-in roles are fixed (409). Whoever
    loses a scope by it has their access tokens cut off at once."""

    def change() -> role_impact.Changed[None]:
        return role_admin.delete_role(db, effects, principal, id)

    if dry_run:
        return dry_run_response(role_impact.preview(db, principal.tenant_id, change))
    change()
    return Response(status_code=204)
