"""Bootstrapping platform operators: the platform tenant and its first admins (CLI)."""

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Role, RoleScope
from backend.domain.errors import ConflictError
from backend.domain.roles import OWNER
from backend.domain.scopes import Scope
from backend.security.passwords import PasswordService
from backend.services import audit, cutoff, roles, tenants, users
from backend.services.effects import Effects

PLATFORM_ADMIN = "platform-admin"
PLATFORM_TENANT_NAME = "Platform"


@dataclass(frozen=True, slots=True)
class CreatedPlatformAdmin:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    tenant_created: bool


def create_platform_admin(
    db: Session,
    effects: Effects,
    passwords: PasswordService,
    *,
    platform_tenant_slug: str,
    email: str,
    password: str,
) -> CreatedPlatformAdmin:
    """Create a platform operator holding owner and platform-admin, in the platform
    tenant, which is created first if missing.

    platform-admin carries every scope: tenants:read and tenants:write plus every
    tenant scope. Missing catalogue scopes are added to it on each run, so a scope added
    to Tessera later reaches the operators with the next admin made. ConflictError if a
    user with this email already exists there; WeakPasswordError on a weak password.
    """
    tenant = tenants.enter_by_slug(db, platform_tenant_slug)
    if tenant is None:
        created = tenants.create_tenant(
            db,
            effects,
            passwords,
            slug=platform_tenant_slug,
            name=PLATFORM_TENANT_NAME,
            owner_email=email,
            owner_password=password,
        )
        tenant_id, user_id = created.tenant_id, created.owner_id
    else:
        tenant_id = tenant.id
        if users.find_by_email(db, tenant_id, email.strip()) is not None:
            raise ConflictError(
                f"{email.strip()!r} is already a user of the platform tenant "
                f"{platform_tenant_slug!r}; grant roles to them through the API instead"
            )
        user_id = users.create_user(
            db, passwords, tenant_id=tenant_id, email=email, password=password
        ).id
        users.grant_role(
            db, tenant_id=tenant_id, user_id=user_id, role_id=_builtin_owner(db, tenant_id)
        )
    role_id = _platform_admin_role(db, tenant_id)
    users.grant_role(db, tenant_id=tenant_id, user_id=user_id, role_id=role_id)
    audit.record(
        db,
        tenant_id=tenant_id,
        actor=audit.SYSTEM,
        action="platform_admin.created",
        target=f"user:{user_id}",
        data={"email": email.strip(), "roles": [OWNER.name, PLATFORM_ADMIN]},
    )
    # platform-admin may have gained catalogue scopes: its holders' GET /me shows them.
    cutoff.profiles(db, effects, tenant_id)
    return CreatedPlatformAdmin(tenant_id=tenant_id, user_id=user_id, tenant_created=tenant is None)


def _builtin_owner(db: Session, tenant_id: uuid.UUID) -> uuid.UUID:
    return db.scalars(
        select(Role.id).where(Role.tenant_id == tenant_id, Role.builtin, Role.name == OWNER.name)
    ).one()


def _platform_admin_role(db: Session, tenant_id: uuid.UUID) -> uuid.UUID:
    """The platform-admin role, made if missing, with every catalogue scope."""
    # Two runs at once would both find the role (or a scope) missing and both add it.
    roles.lock_role_graph(db, tenant_id)
    role = db.scalar(select(Role).where(Role.tenant_id == tenant_id, Role.name == PLATFORM_ADMIN))
    if role is None:
        role = Role(
            tenant_id=tenant_id,
            id=uuid.uuid4(),
            name=PLATFORM_ADMIN,
            description="Platform operators: every tenant scope, and all tenants",
        )
        db.add(role)
        db.flush()
    held = set(
        db.scalars(
            select(RoleScope.scope).where(
                RoleScope.tenant_id == tenant_id, RoleScope.role_id == role.id
            )
        )
    )
    db.add_all(
        RoleScope(tenant_id=tenant_id, role_id=role.id, scope=scope.value)
        for scope in sorted(Scope)
        if scope.value not in held
    )
    db.flush()
    return role.id
