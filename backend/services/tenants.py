"""Tenants: creation with their built-in roles and first owner, lookup by slug."""

import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.db.models import Tenant, TenantStatus
from backend.db.tenant_context import enter_tenant, enter_tenant_by_slug
from backend.domain.errors import ConflictError, NotFoundError
from backend.domain.roles import OWNER
from backend.domain.tenants import validate_slug
from backend.security.passwords import PasswordService
from backend.services import principals, users
from backend.services.roles import seed_builtin_roles


@dataclass(frozen=True, slots=True)
class CreatedTenant:
    tenant_id: uuid.UUID
    owner_id: uuid.UUID


def enter_by_slug(db: Session, slug: str) -> Tenant | None:
    """The tenant named `slug`, with the transaction bound to it; None if there is none."""
    tenant_id = enter_tenant_by_slug(db, slug)
    return db.get(Tenant, tenant_id) if tenant_id is not None else None


def create_tenant(
    db: Session,
    passwords: PasswordService,
    *,
    slug: str,
    name: str,
    owner_email: str,
    owner_password: str,
) -> CreatedTenant:
    """Create a tenant, seed its built-in roles, and make its first owner.

    The transaction is bound to the new tenant, so everything is written under its
    row-level security. Raises ConflictError if the slug is taken, InvalidSlugError or
    WeakPasswordError on bad input. Flushes only: the caller's unit of work commits.
    """
    validate_slug(slug)
    tenant = Tenant(id=uuid.uuid4(), slug=slug, name=name)
    enter_tenant(db, tenant.id)
    try:
        # A savepoint, so a taken slug leaves the caller's transaction usable.
        with db.begin_nested():
            db.add(tenant)
    except IntegrityError as exc:
        raise ConflictError(f"tenant {slug!r} already exists") from exc
    roles = seed_builtin_roles(db, tenant.id)
    owner = users.create_user(
        db, passwords, tenant_id=tenant.id, email=owner_email, password=owner_password
    )
    users.grant_role(db, tenant_id=tenant.id, user_id=owner.id, role_id=roles[OWNER.name].id)
    return CreatedTenant(tenant_id=tenant.id, owner_id=owner.id)


def set_status(db: Session, tenant_id: uuid.UUID, status: TenantStatus) -> None:
    """Suspend or reactivate a tenant; suspension cuts off all its callers at once."""
    tenant = db.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFoundError("tenant")
    tenant.status = status
    db.flush()
    principals.forget_standing_after_commit(db, tenant_id)
