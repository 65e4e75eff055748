"""Invitations: a one-time token with which a user created without a password sets one.

The token is an opaque secret (`iv_<tenant>_<256 bits>`), shown once to the admin who
invited the user and stored only as its SHA-256. It works once, for seven days, and
only while the user is active. Every reason to refuse it gets the same answer, so the
answer tells nothing about which tokens exist.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from backend.db.models import Invitation, Tenant, User, UserStatus
from backend.domain.errors import InvalidRequestError
from backend.mail.messages import Mail, MailKind
from backend.security.opaque import new_secret
from backend.security.passwords import PasswordService
from backend.services import audit, credentials, mail, presented_secrets
from backend.services.effects import Effects

KIND = "iv"
TTL = timedelta(days=7)
PAGE = "/accept-invitation"
INVALID = "invitation token is invalid, expired or already used"


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    token: str
    expires_at: datetime


def issue(
    db: Session, *, tenant_id: uuid.UUID, user_id: uuid.UUID, created_by: uuid.UUID | None
) -> IssuedInvitation:
    """Make an invitation for a user; the token is returned here and never again."""
    secret = new_secret(KIND, tenant_id)
    expires_at = datetime.now(UTC) + TTL
    db.add(
        Invitation(
            tenant_id=tenant_id,
            id=uuid.uuid4(),
            user_id=user_id,
            token_hash=secret.digest,
            created_by=created_by,
            expires_at=expires_at,
        )
    )
    db.flush()
    return IssuedInvitation(token=secret.value, expires_at=expires_at)


def send(db: Session, effects: Effects, user: User, invitation: IssuedInvitation) -> None:
    """Mail the invitation's link to the user once the transaction commits."""
    message = Mail(
        kind=MailKind.INVITATION,
        to=user.email,
        tenant_name=db.get_one(Tenant, user.tenant_id).name,
        page=mail.page(PAGE, invitation.token),
        details={"valid_days": str(TTL.days)},
    )
    mail.send_after_commit(db, effects, message)


def accept(db: Session, passwords: PasswordService, token: str, password: str) -> uuid.UUID:
    """Set the invited user's password (tenant policy applies) and use the invitation up.

    Unauthenticated: the token alone names the tenant, which the transaction is then
    bound to, so the lookup runs under row-level security. Returns the user's id.
    """
    now = datetime.now(UTC)
    # Two requests racing with one token: the second waits, then sees it used.
    invitation, user = _pending(db, token, now, lock=True)
    credentials.check_new_password(db, user.tenant_id, password)
    user.password_hash = passwords.hash(password)
    invitation.accepted_at = now
    # The invitation came by mail: the address is the user's.
    if user.email_verified_at is None:
        user.email_verified_at = now
    db.flush()
    audit.record(
        db,
        tenant_id=user.tenant_id,
        actor=f"user:{user.id}",
        action="invitation.accepted",
        target=f"user:{user.id}",
        data={"invitation_id": str(invitation.id)},
    )
    return user.id


def tenant_name(db: Session, token: str) -> str | None:
    """The name of the tenant a usable invitation token invites to, for the hosted page
    to show; None for any token that `accept` would refuse (it tells nothing more)."""
    try:
        _, user = _pending(db, token, datetime.now(UTC), lock=False)
    except InvalidRequestError:
        return None
    tenant = db.get(Tenant, user.tenant_id)
    return tenant.name if tenant is not None else None


def _pending(db: Session, token: str, now: datetime, *, lock: bool) -> tuple[Invitation, User]:
    """The invitation and its user, if the invitation can still be accepted."""
    found = presented_secrets.unspent(db, Invitation, KIND, token, now, lock=lock)
    if found is None or found[1].status is not UserStatus.ACTIVE:
        raise InvalidRequestError(INVALID)
    return found
