"""Tenants: creation with their built-in roles and first owner, lookup by slug, and the
platform operators' use cases (list, read, rename, suspend, reactivate).

Row-level security shows a transaction only its own tenant's row in `tenants`. An
operator's transaction is let past that (enter_platform) only after the principal is
found to be a principal of the platform tenant; the guard has already checked the
platform scope. Tenant-owned tables stay bound to one tenant at a time, so acting
inside another tenant (its owner, its sessions, its audit log) binds that tenant, and
the principal's own tenant is bound again before returning.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Tenant, TenantStatus
from backend.db.tenant_context import enter_platform, enter_tenant, enter_tenant_by_slug
from backend.domain.errors import ConflictError, InsufficientScopeError, NotFoundError
from backend.domain.roles import OWNER
from backend.domain.scopes import PLATFORM_SCOPES
from backend.domain.tenants import validate_slug
from backend.security.passwords import PasswordService
from backend.services import (
    audit,
    concurrency,
    cutoff,
    email_verification,
    invitations,
    sessions,
    users,
)
from backend.services.effects import Effects
from backend.services.invitations import IssuedInvitation
from backend.services.paging import Page, page_of
from backend.services.principals import Principal
from backend.services.roles import seed_builtin_roles

SUSPENDED_REASON = "tenant_suspended"
# The listing's sort key: the slug (unique).
TenantKey = tuple[str]


@dataclass(frozen=True, slots=True)
class CreatedTenant:
    tenant_id: uuid.UUID
    owner_id: uuid.UUID
    # Set when the owner was invited rather than given a password; shown once.
    invitation: IssuedInvitation | None = None


def enter_by_slug(db: Session, slug: str) -> Tenant | None:
    """The tenant named `slug`, with the transaction bound to it; None if there is none."""
    tenant_id = enter_tenant_by_slug(db, slug)
    return db.get(Tenant, tenant_id) if tenant_id is not None else None


def create_tenant(
    db: Session,
    effects: Effects,
    passwords: PasswordService,
    *,
    slug: str,
    name: str,
    owner_email: str,
    owner_password: str | None,
    actor: str = audit.SYSTEM,
) -> CreatedTenant:
    """Create a tenant, seed its built-in roles, and make its first owner.

    Without a password the owner is invited: the invitation is mailed to them once the
    transaction commits, as a user's invitation is, and its token returned, once. With
    one, they are mailed a link to verify their address, as a user created with a
    password is. The
    transaction is left bound to the new tenant, so everything is written under its
    row-level security, and the creation is audited in the new tenant's log. Raises
    ConflictError if the slug is taken, InvalidSlugError or WeakPasswordError on bad
    input. Flushes only: the caller's unit of work commits.
    """
    validate_slug(slug)
    tenant = Tenant(id=uuid.uuid4(), slug=slug, name=name)
    enter_tenant(db, tenant.id)
    with concurrency.unique(db, "uq_tenants_slug", f"tenant {slug!r} already exists"):
        db.add(tenant)
    roles = seed_builtin_roles(db, tenant.id)
    owner = users.create_user(
        db, passwords, tenant_id=tenant.id, email=owner_email, password=owner_password
    )
    users.grant_role(db, tenant_id=tenant.id, user_id=owner.id, role_id=roles[OWNER.name].id)
    invitation = None
    if owner_password is None:
        invitation = invitations.issue(db, tenant_id=tenant.id, user_id=owner.id, created_by=None)
        invitations.send(db, effects, owner, invitation)
    else:
        email_verification.send(db, effects, owner)
    audit.record(
        db,
        tenant_id=tenant.id,
        actor=actor,
        action="tenant.created",
        target=f"tenant:{tenant.id}",
        data=_created_data(tenant, owner.id, owner.email, invited=invitation is not None),
    )
    return CreatedTenant(tenant_id=tenant.id, owner_id=owner.id, invitation=invitation)


def set_status(db: Session, effects: Effects, tenant_id: uuid.UUID, status: TenantStatus) -> None:
    """Suspend or reactivate a tenant; either way every principal of it is checked anew at
    once: suspension cuts them off, reactivation lets them back."""
    tenant = db.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFoundError("tenant")
    tenant.status = status
    db.flush()
    suspended = status is TenantStatus.SUSPENDED
    reason = cutoff.Reason.TENANT_SUSPENDED if suspended else cutoff.Reason.TENANT_REACTIVATED
    cutoff.tenant(db, effects, tenant_id, reason=reason)


def enter_as_operator(db: Session, operator: Principal) -> None:
    """Let the transaction see every tenant, for a principal of the platform tenant only.

    Defence in depth behind the guard: platform scopes are never effective outside the
    platform tenant, and a token of another tenant that claims one anyway is refused
    here exactly as if it lacked the scope (403), revealing nothing.
    """
    if not operator.platform:
        raise InsufficientScopeError(operator.scopes & PLATFORM_SCOPES)
    enter_platform(db)


@dataclass(frozen=True, slots=True)
class TenantFilter:
    status: TenantStatus | None = None


def list_tenants(
    db: Session, filters: TenantFilter, *, after: TenantKey | None, limit: int
) -> Page[Tenant, TenantKey]:
    """A page of tenants ordered by slug (unique), starting after the slug `after`.

    Needs enter_as_operator first: otherwise the only row visible is the principal's own.
    """
    query = select(Tenant)
    if filters.status is not None:
        query = query.where(Tenant.status == filters.status)
    if after is not None:
        query = query.where(Tenant.slug > after[0])
    rows = list(db.scalars(query.order_by(Tenant.slug).limit(limit + 1)))
    return page_of(rows, limit, lambda tenant: (tenant.slug,))


def get(db: Session, tenant_id: uuid.UUID, *, for_update: bool = False) -> Tenant:
    """One tenant (needs enter_as_operator first); NotFoundError if there is none.

    With `for_update`, read afresh and locked until the transaction ends: of concurrent
    suspensions (or renames, reactivations) one acts and audits, and the others wait and
    find it done.
    """
    tenant = db.get(Tenant, tenant_id, with_for_update=for_update, populate_existing=for_update)
    if tenant is None:
        raise NotFoundError("tenant")
    return tenant


def create(
    db: Session,
    effects: Effects,
    operator: Principal,
    passwords: PasswordService,
    *,
    slug: str,
    name: str,
    owner_email: str,
    owner_password: str | None,
) -> CreatedTenant:
    """An operator creates a tenant and its first owner (with a password, or invited).

    Audited in the new tenant's log and in the platform tenant's.
    """
    created = create_tenant(
        db,
        effects,
        passwords,
        slug=slug,
        name=name,
        owner_email=owner_email,
        owner_password=owner_password,
        actor=operator.actor,
    )
    tenant = get(db, created.tenant_id)
    invited = created.invitation is not None
    data = _created_data(tenant, created.owner_id, owner_email.strip(), invited=invited)
    enter_tenant(db, operator.tenant_id)
    audit.record_by(
        db, operator, "tenant.created", f"tenant:{tenant.id}", {**data, "tenant": tenant.slug}
    )
    return created


def rename(
    db: Session, effects: Effects, operator: Principal, tenant_id: uuid.UUID, *, name: str
) -> Tenant:
    """Change a tenant's display name. The slug never changes: logins and refresh
    tokens name the tenant by it (or by its id), so a new slug would break them."""
    tenant = get(db, tenant_id, for_update=True)
    if name != tenant.name:
        data = {"before": {"name": tenant.name}, "after": {"name": name}}
        tenant.name = name
        db.flush()
        audit.record_by_operator(
            db, operator, tenant.id, "tenant.renamed", {**data, "tenant": tenant.slug}
        )
        # GET /me shows the tenant's name.
        cutoff.profiles(db, effects, tenant.id)
    return tenant


def suspend(
    db: Session,
    effects: Effects,
    operator: Principal,
    tenant_id: uuid.UUID,
) -> Tenant:
    """Suspend a tenant: its tokens and API keys stop working at once, its users cannot
    log in, and every live session is ended. The platform tenant cannot be suspended
    (409): its operators would lock themselves out. Suspending twice changes nothing.
    """
    tenant = get(db, tenant_id, for_update=True)
    # Only operators suspend tenants, and an operator's own tenant is the platform tenant.
    if tenant.id == operator.tenant_id:
        raise ConflictError("the platform tenant cannot be suspended")
    if tenant.status is TenantStatus.SUSPENDED:
        return tenant
    set_status(db, effects, tenant.id, TenantStatus.SUSPENDED)
    enter_tenant(db, tenant.id)
    ended = sessions.revoke_tenant_sessions(
        db, tenant.id, reason=SUSPENDED_REASON, now=datetime.now(UTC)
    )
    data = {
        "before": {"status": TenantStatus.ACTIVE.value},
        "after": {"status": TenantStatus.SUSPENDED.value},
        "sessions_revoked": ended,
    }
    audit.record_by_operator(
        db, operator, tenant.id, "tenant.suspended", {**data, "tenant": tenant.slug}
    )
    return tenant


def reactivate(db: Session, effects: Effects, operator: Principal, tenant_id: uuid.UUID) -> Tenant:
    """Let a suspended tenant's users log in again. Sessions ended by the suspension
    stay ended. Reactivating an active tenant changes nothing."""
    tenant = get(db, tenant_id, for_update=True)
    if tenant.status is TenantStatus.ACTIVE:
        return tenant
    set_status(db, effects, tenant.id, TenantStatus.ACTIVE)
    data = {
        "before": {"status": TenantStatus.SUSPENDED.value},
        "after": {"status": TenantStatus.ACTIVE.value},
    }
    audit.record_by_operator(
        db, operator, tenant.id, "tenant.reactivated", {**data, "tenant": tenant.slug}
    )
    return tenant


def _created_data(
    tenant: Tenant, owner_id: uuid.UUID, owner_email: str, *, invited: bool
) -> dict[str, Any]:
    return {
        "after": {"slug": tenant.slug, "name": tenant.name, "status": TenantStatus.ACTIVE.value},
        "owner": {"id": str(owner_id), "email": owner_email, "invited": invited},
    }
