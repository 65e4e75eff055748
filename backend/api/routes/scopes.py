"""The scope catalogue, for whoever composes roles (scope roles:read)."""

from fastapi import APIRouter

from backend.api.deps import RolesRead
from backend.api.schemas.errors import GUARDED_RESPONSES
from backend.api.schemas.scopes import ScopeOut
from backend.domain.scopes import PLATFORM_SCOPES, SCOPE_DESCRIPTIONS

router = APIRouter(tags=["roles"])


@router.get("/scopes", response_model=list[ScopeOut], responses=GUARDED_RESPONSES)
def list_scopes(principal: RolesRead) -> list[ScopeOut]:
    """Every scope Tessera knows, with what it grants, whether it is a tenant or a
    platform scope, and whether a role of your tenant may carry it."""
    return [
        ScopeOut(
            scope=scope.value,
            description=description,
            kind="platform" if scope in PLATFORM_SCOPES else "tenant",
            grantable=principal.platform or scope not in PLATFORM_SCOPES,
        )
        for scope, description in SCOPE_DESCRIPTIONS.items()
    ]
