"""The last-owner rule: a tenant always keeps at least one active owner."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from backend.db.models import Role, User, UserRole, UserStatus
from backend.domain.errors import ConflictError
from backend.domain.roles import OWNER


def active_owners(tenant_id: uuid.UUID) -> Select[uuid.UUID]:
    """The ids of the tenant's active users holding an unexpired grant of the built-in
    owner role, as a query: set-based jobs exclude them in the database."""
    now = datetime.now(UTC)
    return (
        select(UserRole.user_id)
        .join(Role, (Role.tenant_id == UserRole.tenant_id) & (Role.id == UserRole.role_id))
        .join(User, (User.tenant_id == UserRole.tenant_id) & (User.id == UserRole.user_id))
        .where(
            UserRole.tenant_id == tenant_id,
            Role.builtin.is_(True),
            Role.name == OWNER.name,
            User.status == UserStatus.ACTIVE,
            or_(UserRole.expires_at.is_(None), UserRole.expires_at > now),
        )
    )


def active_owner_ids(db: Session, tenant_id: uuid.UUID, *, lock: bool = False) -> set[uuid.UUID]:
    """Active users holding an unexpired grant of the built-in owner role.

    With `lock`, the owners' grants stay locked until the transaction ends: two admins
    removing the last two owners at once cannot both pass the last-owner check.
    Readers that only exclude owners (sweeps, previews, bulk jobs) take no lock.
    """
    query = active_owners(tenant_id)
    if lock:
        query = query.with_for_update(of=UserRole)
    return set(db.scalars(query))


def require_another_owner(db: Session, tenant_id: uuid.UUID, leaving: uuid.UUID) -> None:
    """Refuse (409) a change that would leave the tenant without an active owner.

    Call before disabling, deleting or taking the owner role from `leaving`.
    """
    owners = active_owner_ids(db, tenant_id, lock=True)
    if leaving in owners and len(owners) == 1:
        raise ConflictError("a tenant must keep at least one active owner")
