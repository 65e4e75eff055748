"""The scope catalogue, for whoever composes roles (scope roles:read)."""

from fastapi import APIRouter

from backend.api.deps import AppRuntime, DbSession, RolesRead
from backend.api.schemas.errors import GUARDED_RESPONSES
from backend.api.schemas.scopes import ScopeOut
from backend.domain.scopes import PLATFORM_SCOPES, SCOPE_DESCRIPTIONS
from backend.services import roles

router = APIRouter(tags=["roles"])


@router.get("/scopes", response_model=list[ScopeOut], responses=GUARDED_RESPONSES)
def list_scopes(principal: RolesRead, db: DbSession, runtime: AppRuntime) -> list[ScopeOut]:
    """Every scope Tessera knows, with what it grants, whether it is a tenant or a
    platform scope, and whether a role of your tenant may carry it."""
    platform = roles.is_platform_tenant(
        db, principal.tenant_id, runtime.settings.platform_tenant_slug
    )
    return [
        ScopeOut(
            scope=scope.value,
            description=description,
            kind="platform" if scope in PLATFORM_SCOPES else "tenant",
            grantable=platform or scope not in PLATFORM_SCOPES,
        )
        for scope, description in SCOPE_DESCRIPTIONS.items()
    ]
