"""Account lockout: count wrong passwords per user, lock at the tenant's threshold."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, case, update
from sqlalchemy.orm import Session

from backend.db.models import User
from backend.domain.policy import TenantPolicy
from backend.services import audit, cutoff
from backend.services.effects import Effects


def locked(locked_until: datetime | None, now: datetime) -> bool:
    """Whether an account locked until `locked_until` is still locked at `now`."""
    return locked_until is not None and locked_until > now


def record_failure(
    db: Session,
    effects: Effects,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    policy: TenantPolicy,
    now: datetime,
) -> None:
    """Count one wrong password; at the threshold, lock the account for the policy's time.

    The count is one atomic UPDATE, so concurrent wrong guesses all count. Its row lock
    is held to the end of the transaction, so exactly one request sees the threshold
    reached and locks. A lock that has run out starts a fresh count; guesses during a
    lock are counted but do not extend it. Locking also cuts off the user's access
    tokens (token_version) and is audited.
    """
    lock_expired = and_(User.locked_until.is_not(None), User.locked_until <= now)
    failed_logins, locked_until = db.execute(
        update(User)
        .where(User.tenant_id == tenant_id, User.id == user_id)
        .values(
            failed_logins=case((lock_expired, 1), else_=User.failed_logins + 1),
            locked_until=case((lock_expired, None), else_=User.locked_until),
        )
        .returning(User.failed_logins, User.locked_until)
    ).one()
    if locked_until is not None or failed_logins < policy.lockout_threshold:
        return
    until = now + timedelta(minutes=policy.lockout_minutes)
    db.execute(
        update(User)
        .where(User.tenant_id == tenant_id, User.id == user_id)
        .values(locked_until=until)
    )
    cutoff.users(db, effects, tenant_id, [user_id], reason=cutoff.Reason.LOCKED)
    audit.record(
        db,
        tenant_id=tenant_id,
        actor=audit.SYSTEM,
        action="user.locked",
        target=f"user:{user_id}",
        data={"failed_logins": failed_logins, "locked_until": until.isoformat()},
    )
