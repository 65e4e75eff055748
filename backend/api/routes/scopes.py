"""Every scope, grouped by the API it belongs to, for whoever composes roles (roles:read)."""

from fastapi import APIRouter

from backend.api.deps import AppRuntime, DbSession, RolesRead
from backend.api.schemas.errors import GUARDED_RESPONSES
from backend.api.schemas.scopes import ApiScopesOut, ScopeOut
from backend.domain.scopes import PLATFORM_SCOPES
from backend.services import apis

router = APIRouter(tags=["roles"])


@router.get("/scopes", response_model=list[ApiScopesOut], responses=GUARDED_RESPONSES)
def list_scopes(principal: RolesRead, db: DbSession, runtime: AppRuntime) -> list[ApiScopesOut]:
    """Every scope Tessera knows, grouped by API (Tessera's own first): what it grants,
    its kind (tenant, platform or product), and whether a role of your tenant may carry it."""
    groups = []
    for api in apis.list_apis(db, runtime.settings.jwt_audience):
        scopes = []
        for scope, description in api.scopes.items():
            platform = scope in PLATFORM_SCOPES
            kind = "product" if not api.builtin else "platform" if platform else "tenant"
            scopes.append(
                ScopeOut(
                    scope=scope,
                    description=description,
                    kind=kind,
                    grantable=principal.platform or not platform,
                )
            )
        groups.append(
            ApiScopesOut(
                identifier=api.identifier, name=api.name, builtin=api.builtin, scopes=scopes
            )
        )
    return groups
