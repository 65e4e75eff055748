"""Users' passwords: the tenant's policy for new ones, and changing one's own."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import RefreshToken, Tenant, User
from backend.domain.errors import InvalidRequestError
from backend.domain.policy import (
    PasswordChecksPausedError,
    TenantPolicy,
    WrongPasswordError,
    check_password,
)
from backend.security.opaque import parse_secret
from backend.security.passwords import PasswordService
from backend.services import audit, cutoff, lockout, sessions
from backend.services.effects import Effects
from backend.services.principals import Principal

WRONG_CURRENT = "current password is incorrect"
CHECKS_PAUSED = (
    "too many wrong passwords: this account's password is not being checked for now; "
    "try again later"
)


def tenant_policy(db: Session, tenant_id: uuid.UUID) -> TenantPolicy:
    return TenantPolicy.from_json(db.get_one(Tenant, tenant_id).policy)


def check_new_password(db: Session, tenant_id: uuid.UUID, password: str) -> None:
    """Apply the tenant's password policy (WeakPasswordError, 422, with the reason)."""
    check_password(password, min_length=tenant_policy(db, tenant_id).password_min_length)


def change_own_password(
    db: Session,
    effects: Effects,
    passwords: PasswordService,
    actor: Principal,
    *,
    current: str,
    new: str,
    keep_refresh_token: str | None = None,
) -> None:
    """Change the principal's password after verifying the current one.

    Every access token issued so far stops working (token_version), and every session
    ends except the one `keep_refresh_token` belongs to, whose client can refresh into
    a new access token at once. The current password is checked under the lockout,
    like a login's: a wrong one counts, and while the account is locked none passes, so
    a stolen access token cannot become an unlimited password oracle (the answer then
    says so whatever the password: the principal is signed in as the account already).
    Hashes twice (~200 ms in production): call from a worker thread.
    """
    tenant_id, user_id = actor.tenant_id, actor.require_user()
    kept = _session_of(db, tenant_id, user_id, keep_refresh_token)
    user = db.get_one(User, (tenant_id, user_id))
    policy = tenant_policy(db, tenant_id)
    now = datetime.now(UTC)
    outcome = lockout.check(
        db,
        tenant_id,
        user_id,
        policy,
        password_ok=passwords.verify_and_update(current, user.password_hash).ok,
        locked_until=user.locked_until,
        now=now,
    )
    if outcome is not lockout.Check.PASSED:
        locked = outcome is lockout.Check.LOCKED
        reason = "locked" if locked else "wrong_current_password"
        audit.record_by(
            db, actor, "user.password_change_failed", f"user:{user_id}", {"reason": reason}
        )
        raise (
            PasswordChecksPausedError(CHECKS_PAUSED)
            if locked
            else WrongPasswordError(WRONG_CURRENT)
        )
    check_password(new, min_length=policy.password_min_length)
    user.password_hash = passwords.hash(new)
    db.flush()
    cutoff.users(db, effects, tenant_id, [user_id], reason=cutoff.Reason.PASSWORD_CHANGED)
    ended = sessions.end_user_sessions(
        db, tenant_id, user_id, reason="password_changed", now=now, keep=kept
    )
    data = {"sessions_ended": ended, "session_kept": kept is not None}
    audit.record_by(db, actor, "user.password_changed", f"user:{user_id}", data)


def _session_of(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, presented: str | None
) -> uuid.UUID | None:
    """The session of this user that `presented` (a live refresh token) belongs to.

    Ending a session revokes its tokens, and no token outlives its session, so a token
    neither revoked nor expired names a live session.
    """
    if presented is None:
        return None
    secret = parse_secret(sessions.KIND, presented)
    family_id = (
        db.scalar(
            select(RefreshToken.family_id).where(
                RefreshToken.tenant_id == tenant_id,
                RefreshToken.user_id == user_id,
                RefreshToken.token_hash == secret.digest,
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > datetime.now(UTC),
            )
        )
        if secret is not None and secret.tenant_id == tenant_id
        else None
    )
    if family_id is None:
        raise InvalidRequestError("refresh_token is not one of your live sessions")
    return family_id
