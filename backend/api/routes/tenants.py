"""Platform operators: every tenant (scopes tenants:read, tenants:write).

Only principals of the platform tenant hold these scopes; an ordinary tenant's principal
gets 403 on every route here, which tells it nothing about other tenants.
"""

import uuid

from fastapi import APIRouter

from backend.api.deps import AppEffects, AppRuntime, DbSession, TenantsRead, TenantsWrite
from backend.api.pagination import Cursor, Keyset, Limit
from backend.api.schemas.errors import BAD_CURSOR, CONFLICT, GUARDED_RESPONSES, NOT_FOUND
from backend.api.schemas.tenants import (
    OwnerCreated,
    TenantCreate,
    TenantCreated,
    TenantOut,
    TenantPage,
    TenantUpdate,
)
from backend.api.schemas.users import InvitationOut
from backend.db.models import TenantStatus
from backend.services import tenants
from backend.services.tenants import TenantFilter

router = APIRouter(prefix="/tenants", tags=["tenants (platform)"])

TENANTS = Keyset("tenants", (("slug", str),))


@router.post(
    "",
    status_code=201,
    response_model=TenantCreated,
    responses={**GUARDED_RESPONSES, **CONFLICT},
)
def create_tenant(
    body: TenantCreate,
    principal: TenantsWrite,
    db: DbSession,
    runtime: AppRuntime,
    effects: AppEffects,
) -> TenantCreated:
    """Create a tenant with its built-in roles and first owner: with a password (the
    password policy applies) or invited (`invite: true`; the invitation is mailed to the
    owner, and its token is in the response, this once). A taken slug is 409; a
    malformed one 422 with the rule."""
    tenants.enter_as_operator(db, principal)
    password = body.owner.password
    created = tenants.create(
        db,
        effects,
        principal,
        runtime.passwords,
        slug=body.slug,
        name=body.name,
        owner_email=body.owner.email,
        owner_password=password.get_secret_value() if password is not None else None,
    )
    tenant = tenants.get(db, created.tenant_id)
    db.refresh(tenant)
    invitation = created.invitation
    return TenantCreated(
        **TenantOut.of(tenant).model_dump(),
        owner=OwnerCreated(
            id=created.owner_id,
            email=body.owner.email,
            invitation=(
                InvitationOut(token=invitation.token, expires_at=invitation.expires_at)
                if invitation is not None
                else None
            ),
        ),
    )


@router.get("", response_model=TenantPage, responses={**GUARDED_RESPONSES, **BAD_CURSOR})
def list_tenants(
    principal: TenantsRead,
    db: DbSession,
    status: TenantStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> TenantPage:
    """Every tenant by slug, a page at a time; pass `next_cursor` back for more."""
    tenants.enter_as_operator(db, principal)
    page = tenants.list_tenants(
        db, TenantFilter(status=status), after=TENANTS.key(cursor), limit=limit
    )
    return TenantPage(
        items=[TenantOut.of(t) for t in page.items], next_cursor=TENANTS.cursor(page.next_key)
    )


@router.get("/{id}", response_model=TenantOut, responses={**GUARDED_RESPONSES, **NOT_FOUND})
def get_tenant(id: uuid.UUID, principal: TenantsRead, db: DbSession) -> TenantOut:
    """One tenant."""
    tenants.enter_as_operator(db, principal)
    return TenantOut.of(tenants.get(db, id))


@router.patch("/{id}", response_model=TenantOut, responses={**GUARDED_RESPONSES, **NOT_FOUND})
def rename_tenant(
    id: uuid.UUID, body: TenantUpdate, principal: TenantsWrite, db: DbSession, effects: AppEffects
) -> TenantOut:
    """Rename a tenant. The slug is immutable (422 if sent): logins and refresh tokens
    name the tenant by it."""
    tenants.enter_as_operator(db, principal)
    return TenantOut.of(tenants.rename(db, effects, principal, id, name=body.name))


@router.post(
    "/{id}/suspend",
    response_model=TenantOut,
    responses={**GUARDED_RESPONSES, **NOT_FOUND, **CONFLICT},
)
def suspend_tenant(
    id: uuid.UUID, principal: TenantsWrite, db: DbSession, effects: AppEffects
) -> TenantOut:
    """Suspend a tenant: its access tokens and API keys are refused at once, its users
    cannot log in, and its live sessions are ended. The platform tenant cannot be
    suspended (409). Suspending a suspended tenant changes nothing."""
    tenants.enter_as_operator(db, principal)
    return TenantOut.of(tenants.suspend(db, effects, principal, id))


@router.post(
    "/{id}/reactivate", response_model=TenantOut, responses={**GUARDED_RESPONSES, **NOT_FOUND}
)
def reactivate_tenant(
    id: uuid.UUID, principal: TenantsWrite, db: DbSession, effects: AppEffects
) -> TenantOut:
    """Reactivate a suspended tenant: its users can log in again. Sessions ended by the
    suspension stay ended."""
    tenants.enter_as_operator(db, principal)
    return TenantOut.of(tenants.reactivate(db, effects, principal, id))
