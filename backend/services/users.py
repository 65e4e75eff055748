"""Users of a tenant."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import Tenant, User, UserRole, UserStatus
from backend.domain.errors import ConflictError, NotFoundError
from backend.domain.policy import check_password
from backend.domain.scopes import Scope
from backend.security.passwords import PasswordService
from backend.services import principals, roles


def find_by_email(db: Session, tenant_id: uuid.UUID, email: str) -> User | None:
    """Case-insensitive lookup, served by the (tenant_id, lower(email)) unique index."""
    return db.scalar(
        select(User).where(User.tenant_id == tenant_id, func.lower(User.email) == email.lower())
    )


def create_user(
    db: Session,
    passwords: PasswordService,
    *,
    tenant_id: uuid.UUID,
    email: str,
    password: str,
    full_name: str = "",
) -> User:
    """Create an active user after checking the password policy and email uniqueness."""
    email = email.strip()
    check_password(password)
    if find_by_email(db, tenant_id, email) is not None:
        raise ConflictError(f"a user with email {email!r} already exists in this tenant")
    user = User(
        tenant_id=tenant_id,
        id=uuid.uuid4(),
        email=email,
        full_name=full_name,
        password_hash=passwords.hash(password),
    )
    db.add(user)
    db.flush()
    return user


def grant_role(
    db: Session,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    role_id: uuid.UUID,
    granted_by: uuid.UUID | None = None,
    expires_at: datetime | None = None,
) -> UserRole:
    grant = UserRole(
        tenant_id=tenant_id,
        user_id=user_id,
        role_id=role_id,
        granted_by=granted_by,
        expires_at=expires_at,
    )
    db.add(grant)
    db.flush()
    return grant


@dataclass(frozen=True, slots=True)
class Profile:
    user: User
    tenant: Tenant
    roles: list[str]
    scopes: frozenset[Scope]


def get_profile(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, *, platform_tenant_slug: str
) -> Profile:
    """A user with their tenant, directly granted roles and current effective scopes."""
    row = db.execute(
        select(User, Tenant)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(User.tenant_id == tenant_id, User.id == user_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError("user")
    user, tenant = row
    return Profile(
        user=user,
        tenant=tenant,
        roles=roles.role_names(db, tenant_id, user_id),
        scopes=roles.effective_scopes(
            db, tenant_id, user_id, platform=tenant.slug == platform_tenant_slug
        ),
    )


def set_status(
    db: Session,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    status: UserStatus,
    *,
    reason: str | None = None,
) -> None:
    """Disable or re-enable a user; disabling cuts off their access tokens at once."""
    user = db.get(User, (tenant_id, user_id))
    if user is None:
        raise NotFoundError("user")
    user.status = status
    if status is UserStatus.DISABLED:
        user.disabled_at = datetime.now(UTC)
        user.disabled_reason = reason
    else:
        user.disabled_at = None
        user.disabled_reason = None
    db.flush()
    principals.bump_token_version(db, tenant_id, user_id)
