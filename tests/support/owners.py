"""Counting a tenant's owners in the tests' own SQL, not through the code under test."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import Grant, Role, User, UserStatus


def lasting_owners(db: Session, tenant_id: uuid.UUID) -> int:
    """Active users holding the built-in owner role through a grant with no expiry."""
    db.expire_all()
    return int(
        db.scalar(
            select(func.count())
            .select_from(Grant)
            .join(Role, (Role.tenant_id == Grant.tenant_id) & (Role.id == Grant.role_id))
            .join(User, (User.tenant_id == Grant.tenant_id) & (User.id == Grant.user_id))
            .where(
                Grant.tenant_id == tenant_id,
                Role.builtin,
                Role.name == "owner",
                User.status == UserStatus.ACTIVE,
                Grant.expires_at.is_(None),
            )
        )
        or 0
    )
