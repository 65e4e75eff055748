"""Account lockout: slow down and then stop password guessing, per user.

Lockout stops guessing, nothing else. While `users.locked_until` is ahead, every check
of the account's password fails, the right password included (the password grant, the
current password of PATCH /me/password); the account's sessions, access tokens and API
keys are left alone. They were started with the right password, and anyone who knows
an address can make wrong guesses: a lockout that ended sessions would let them log the
account's owner out at will.

The tenant's policy (`TenantPolicy`) sets the steps: a few wrong passwords in a row
are free, then each one pauses password checks for a time that doubles, and at the
threshold the account locks (audited as `user.locked`). An administrator lifts either
with `user_admin.unlock`.
"""

import enum
import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, update
from sqlalchemy.orm import Session

from backend.db.models import User
from backend.domain.policy import TenantPolicy
from backend.services import audit


class Check(enum.Enum):
    """The outcome of a password check under the lockout."""

    PASSED = "passed"
    WRONG = "wrong_password"
    LOCKED = "locked"


def locked(locked_until: datetime | None, now: datetime) -> bool:
    """Whether an account locked (or paused) until `locked_until` still is at `now`."""
    return locked_until is not None and locked_until > now


def check(
    db: Session,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    policy: TenantPolicy,
    *,
    password_ok: bool,
    locked_until: datetime | None,
    now: datetime,
) -> Check:
    """The one rule for every check of a known user's password, whoever asks.

    The password has been verified already, locked or not, so that a lock costs the same
    time as a wrong password. A wrong one is counted (`record_failure`). While the
    account is locked, as read before the verification, the check fails whatever the
    password: an answer that differed for the right one would tell a guesser which
    guess was right.
    """
    if not password_ok:
        record_failure(db, tenant_id, user_id, policy, now)
    if locked(locked_until, now):
        return Check.LOCKED
    return Check.PASSED if password_ok else Check.WRONG


def record_failure(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, policy: TenantPolicy, now: datetime
) -> None:
    """Count one wrong password; pause or lock password checks as the policy says.

    The count is one atomic UPDATE, so concurrent wrong guesses all count. Its row lock
    is held to the end of the transaction, so exactly one request sees each step reached
    and sets its pause or the lock.

    A wrong password during a pause is not counted: the pause refused it whatever it
    was, and counting it would bring the lock forward, which the pauses are there to
    put off. During the lock guesses are counted (the administrator sees how hard the
    account is tried) but do not extend it. What a pause or lock that has run out leaves
    of the count is `count_once_ended`.
    """
    ended = and_(User.locked_until.is_not(None), User.locked_until <= now)
    paused = and_(User.locked_until > now, User.failed_logins < policy.lockout_threshold)
    failed_logins, locked_until = db.execute(
        update(User)
        .where(User.tenant_id == tenant_id, User.id == user_id)
        .values(
            failed_logins=case(
                (paused, User.failed_logins),
                (ended, count_once_ended(policy) + 1),
                else_=User.failed_logins + 1,
            ),
            locked_until=case((ended, None), else_=User.locked_until),
        )
        .returning(User.failed_logins, User.locked_until)
    ).one()
    pause = policy.pause_after(failed_logins)
    if locked_until is not None or pause is None:
        return
    until = now + pause
    db.execute(
        update(User)
        .where(User.tenant_id == tenant_id, User.id == user_id)
        .values(locked_until=until)
    )
    if policy.locks_at(failed_logins):
        audit.record(
            db,
            tenant_id=tenant_id,
            actor=audit.SYSTEM,
            action="user.locked",
            target=f"user:{user_id}",
            data={"failed_logins": failed_logins, "locked_until": until.isoformat()},
        )


def count_once_ended(policy: TenantPolicy) -> ColumnElement[int]:
    """`users.failed_logins` once its pause or lock has run out: a lock starts a fresh
    count, a pause keeps it (the next wrong password pauses for twice as long)."""
    return case((User.failed_logins >= policy.lockout_threshold, 0), else_=User.failed_logins)


def lift(user: User) -> dict[str, object] | None:
    """Clear a user's count of wrong passwords and any pause or lock (flushed by the
    caller). The state before, to audit, or None if there was nothing to clear."""
    if user.failed_logins == 0 and user.locked_until is None:
        return None
    before: dict[str, object] = {
        "failed_logins": user.failed_logins,
        "locked_until": None if user.locked_until is None else user.locked_until.isoformat(),
    }
    user.failed_logins = 0
    user.locked_until = None
    return before
