"""Email verification: a mailed one-time link proves the user receives mail at `email`.

Sent when a user is created with a password and when their email changes (which makes
it unverified again); accepting an invitation or finishing a password reset proves it
too, since both came by mail. The token names the address it was sent to, so one sent
before a change verifies nothing after it. It works once, for 48 hours.
"""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from backend.db.models import AccountTokenPurpose, User
from backend.mail.messages import Mail, MailKind
from backend.services import account_tokens, audit, cutoff, mail
from backend.services.effects import Effects

TTL = timedelta(hours=48)
PAGE = "/verify-email"


def send(db: Session, effects: Effects, user: User) -> None:
    """Mail `user` a verification link (after the commit); an older link stops working."""
    token = account_tokens.issue(
        db, user, AccountTokenPurpose.EMAIL_VERIFICATION, TTL, datetime.now(UTC)
    )
    mail.send_after_commit(
        db,
        effects,
        Mail(
            kind=MailKind.EMAIL_VERIFICATION,
            to=user.email,
            tenant_name=account_tokens.tenant_name(db, user.tenant_id),
            page=mail.page(PAGE, token),
            details={"valid_hours": str(int(TTL.total_seconds() // 3600))},
        ),
    )


def confirm(db: Session, effects: Effects, token: str) -> uuid.UUID:
    """Mark the address the token was sent to as verified; returns the user's id."""
    now = datetime.now(UTC)
    redeemed = account_tokens.pending(
        db, AccountTokenPurpose.EMAIL_VERIFICATION, token, now, lock=True
    )
    user = redeemed.user
    redeemed.token.used_at = now
    user.email_verified_at = now
    db.flush()
    audit.record(
        db,
        tenant_id=user.tenant_id,
        actor=f"user:{user.id}",
        action="user.email_verified",
        target=f"user:{user.id}",
        data={"email": user.email},
    )
    # GET /me shows `email_verified`.
    cutoff.profiles(db, effects, user.tenant_id)
    return user.id
