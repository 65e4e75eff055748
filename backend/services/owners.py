"""Enforcing the owner rule (backend.domain.owners) where it cannot be raced.

Every change that can take an owner away (disable, delete, offboard, bulk jobs, the
inactivity sweep, revoking the owner role or giving it an expiry) calls `must_stay`
before it changes anything. That takes a per-tenant advisory lock held until the
transaction ends, then reads the owners: two changes racing in one tenant are
serialised, and the second counts the owners as the first left them. A lock on the
grant rows would not do: disabling a user writes the user row, not the grant.
Changes that only add owners need no lock.

Expired grants never count, so the expiry sweep cannot remove an owner the tenant
keeps: only a grant without expiry is lasting.
"""

import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, or_, select, text
from sqlalchemy.orm import Session

from backend.db.models import Grant, Role, User, UserStatus
from backend.domain import owners as rule
from backend.domain.owners import LastOwnerError
from backend.domain.roles import OWNER

Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])

_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('tessera.owners'), hashtext(:tenant))")


def active_owners(tenant_id: uuid.UUID) -> Select[uuid.UUID]:
    """The ids of the tenant's active users holding an unexpired grant of the built-in
    owner role, as a query: set-based jobs exclude them in the database."""
    return _of_active_owners(select(Grant.user_id), tenant_id)


def lock(db: Session, tenant_id: uuid.UUID) -> None:
    """Serialise every change of the tenant's owners until this transaction ends.

    An advisory lock needs no row and no privilege, and is released at commit or
    rollback; taking it again in the same transaction is free.
    """
    db.execute(_LOCK, {"tenant": str(tenant_id)})


def must_stay(
    db: Session, tenant_id: uuid.UUID, leaving: Collection[uuid.UUID]
) -> frozenset[uuid.UUID]:
    """Lock the tenant's owners, then return those of `leaving` who must stay.

    The count is read after the lock, so it sees every earlier change committed.
    """
    lock(db, tenant_id)
    query = select(Grant.user_id, Grant.expires_at.is_(None))
    rows = db.execute(_of_active_owners(query, tenant_id)).all()
    owners = {user_id for user_id, _ in rows}
    lasting = {user_id for user_id, forever in rows if forever}
    return rule.must_stay(owners, lasting, leaving)


def require_another_owner(db: Session, tenant_id: uuid.UUID, leaving: uuid.UUID) -> None:
    """Refuse (409) a change that would leave the tenant without a lasting owner.

    Call before disabling, deleting or offboarding `leaving`, or before taking the owner
    role from them or giving their grant an expiry; again when a queued job runs.
    """
    if must_stay(db, tenant_id, [leaving]):
        raise LastOwnerError()


def _of_active_owners(query: Q, tenant_id: uuid.UUID) -> Q:
    """`query` over grants, cut to the tenant's unexpired owner grants of active users."""
    now = datetime.now(UTC)
    return (
        query.join(Role, (Role.tenant_id == Grant.tenant_id) & (Role.id == Grant.role_id))
        .join(User, (User.tenant_id == Grant.tenant_id) & (User.id == Grant.user_id))
        .where(
            Grant.tenant_id == tenant_id,
            Role.builtin.is_(True),
            Role.name == OWNER.name,
            User.status == UserStatus.ACTIVE,
            or_(Grant.expires_at.is_(None), Grant.expires_at > now),
        )
    )
