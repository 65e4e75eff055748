"""Counting a tenant's owners in the tests' own SQL, not through the code under test."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import Role, User, UserRole, UserStatus


def lasting_owners(db: Session, tenant_id: uuid.UUID) -> int:
    """Active users holding the built-in owner role through a grant with no expiry."""
    db.expire_all()
    return int(
        db.scalar(
            select(func.count())
            .select_from(UserRole)
            .join(Role, (Role.tenant_id == UserRole.tenant_id) & (Role.id == UserRole.role_id))
            .join(User, (User.tenant_id == UserRole.tenant_id) & (User.id == UserRole.user_id))
            .where(
                UserRole.tenant_id == tenant_id,
                Role.builtin,
                Role.name == "owner",
                User.status == UserStatus.ACTIVE,
                UserRole.expires_at.is_(None),
            )
        )
        or 0
    )
