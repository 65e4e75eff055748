"""Password reset by mail: asked for with a tenant and an email, finished with the token.

Asking always answers the same (the API queues the request for the worker, sealed, and
answers 202 before anything is looked up), so the answer and its timing say nothing
about which emails have accounts. The worker finds the user and mails a token that works
once, for 15 minutes, and dies with a newer reset or any change of the password.

Finishing sets the password under the tenant's policy, ends every session and access
token of the user, and never bypasses the second factor: a user who has one presents it
too, and a wrong one counts towards the lockout like a wrong password.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from backend.db.models import AccountTokenPurpose, UserStatus
from backend.db.tenant_context import enter_tenant_by_slug
from backend.domain.errors import InvalidRequestError, SecondFactorFailedError
from backend.mail.messages import Mail, MailKind
from backend.security.passwords import PasswordService
from backend.security.sealing import Sealer
from backend.services import (
    account_tokens,
    audit,
    credentials,
    cutoff,
    factors,
    mail,
    sessions,
    users,
)
from backend.services.effects import Effects

TTL = timedelta(minutes=15)
PAGE = "/reset-password"
FACTOR_NEEDED = "this account has a second factor: send `otp` or `recovery_code` with it"


def request(db: Session, effects: Effects, tenant_slug: str, email: str) -> bool:
    """Mail a reset token to the active user with this email in this tenant, if any.
    Runs in the worker; True if a mail was queued."""
    tenant_id = enter_tenant_by_slug(db, tenant_slug)
    if tenant_id is None:
        return False
    user = users.find_by_email(db, tenant_id, email.strip())
    if user is None or user.status is not UserStatus.ACTIVE or user.password_hash is None:
        return False
    now = datetime.now(UTC)
    token = account_tokens.issue(db, user, AccountTokenPurpose.PASSWORD_RESET, TTL, now)
    audit.record(
        db,
        tenant_id=tenant_id,
        actor=audit.ANONYMOUS,
        action="user.password_reset_requested",
        target=f"user:{user.id}",
    )
    mail.send_after_commit(
        db,
        effects,
        Mail(
            kind=MailKind.PASSWORD_RESET,
            to=user.email,
            tenant_name=account_tokens.tenant_name(db, tenant_id),
            page=mail.page(PAGE, token),
            details={"valid_minutes": str(int(TTL.total_seconds() // 60))},
        ),
    )
    return True


def confirm(
    db: Session,
    effects: Effects,
    passwords: PasswordService,
    sealer: Sealer,
    *,
    token: str,
    password: str,
    otp: str | None = None,
    recovery_code: str | None = None,
) -> uuid.UUID:
    """Set a new password with a reset token; returns the user's id.

    The token is checked under a row lock (two racing requests: one wins), then the
    tenant's password policy, then the second factor if the user has one; only then is
    the token used up, so a refused password or factor leaves it usable. Hashes once (~100 ms in
    production): call from a worker thread.
    """
    now = datetime.now(UTC)
    redeemed = account_tokens.pending(db, AccountTokenPurpose.PASSWORD_RESET, token, now, lock=True)
    user = redeemed.user
    tenant_id = user.tenant_id
    # The policy first: a refused password must not have spent a recovery code.
    credentials.check_new_password(db, tenant_id, password)
    amr: tuple[str, ...] = ()
    if factors.has_factor(db, tenant_id, user.id):
        if not otp and not recovery_code:
            raise SecondFactorFailedError(FACTOR_NEEDED)
        amr = factors.verify(
            db, sealer, effects, user, otp=otp, recovery_code=recovery_code, now=now
        )
    user.password_hash = passwords.hash(password)
    redeemed.token.used_at = now
    # The mail reached the address: it is verified, if it was not yet.
    if user.email_verified_at is None:
        user.email_verified_at = now
    db.flush()
    cutoff.users(db, effects, tenant_id, [user.id], reason=cutoff.Reason.PASSWORD_CHANGED)
    ended = sessions.end_user_sessions(db, tenant_id, user.id, reason="password_reset", now=now)
    audit.record(
        db,
        tenant_id=tenant_id,
        actor=f"user:{user.id}",
        action="user.password_reset",
        target=f"user:{user.id}",
        data={"sessions_ended": ended, "second_factor": bool(amr)},
    )
    return user.id


@dataclass(frozen=True, slots=True)
class ResetPage:
    """What the hosted page shows for a usable token."""

    tenant_name: str
    needs_factor: bool


def page_for(db: Session, token: str) -> ResetPage | None:
    """What the hosted page shows for a token `confirm` would take; None for any other."""
    try:
        redeemed = account_tokens.pending(
            db, AccountTokenPurpose.PASSWORD_RESET, token, datetime.now(UTC), lock=False
        )
    except InvalidRequestError:
        return None
    user = redeemed.user
    return ResetPage(
        tenant_name=account_tokens.tenant_name(db, user.tenant_id),
        needs_factor=factors.has_factor(db, user.tenant_id, user.id),
    )
