"""The caller's own profile."""

from fastapi import APIRouter

from backend.api.deps import AppRuntime, DbSession, Me
from backend.api.schemas.errors import GUARDED_RESPONSES
from backend.api.schemas.me import MeResponse, TenantSummary
from backend.services import users

router = APIRouter(tags=["me"])


@router.get(
    "/me",
    response_model=MeResponse,
    responses=GUARDED_RESPONSES,
)
def read_me(principal: Me, db: DbSession, runtime: AppRuntime) -> MeResponse:
    """Who you are: your tenant, your roles and the scopes they give you now."""
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
    )
