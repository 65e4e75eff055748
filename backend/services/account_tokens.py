"""Mailed one-time tokens: password resets and email verifications.

A token reads like every opaque secret (`pr_<tenant>_<256 bits>` for a reset,
`ev_...` for a verification; security/opaque.py) and only its SHA-256 is stored. It
works once, until it expires, while its user is active; every reason to refuse it gets
the same answer, so the answer tells nothing about which tokens exist.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.db.models import AccountToken, AccountTokenPurpose, Tenant, User, UserStatus
from backend.domain.errors import InvalidRequestError
from backend.security.opaque import new_secret
from backend.services import presented_secrets

_KINDS = {AccountTokenPurpose.PASSWORD_RESET: "pr", AccountTokenPurpose.EMAIL_VERIFICATION: "ev"}
INVALID = "the link is invalid, expired or already used"


@dataclass(frozen=True, slots=True)
class Redeemed:
    token: AccountToken
    user: User


def password_fingerprint(password_hash: str | None) -> bytes:
    """What a reset remembers of the password it was issued under: any change of the
    password (a reset, a change, an admin's) makes the fingerprint differ."""
    return hashlib.sha256((password_hash or "").encode()).digest()


def issue(
    db: Session, user: User, purpose: AccountTokenPurpose, ttl: timedelta, now: datetime
) -> str:
    """A new token for `user`; older unused ones of the same purpose are used up (a newer
    reset invalidates the one before). Returns the token, which is stored only hashed."""
    db.execute(
        update(AccountToken)
        .where(
            AccountToken.tenant_id == user.tenant_id,
            AccountToken.user_id == user.id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    secret = new_secret(_KINDS[purpose], user.tenant_id)
    db.add(
        AccountToken(
            tenant_id=user.tenant_id,
            id=uuid.uuid4(),
            user_id=user.id,
            purpose=purpose,
            token_hash=secret.digest,
            email=user.email,
            password_fingerprint=(
                password_fingerprint(user.password_hash)
                if purpose is AccountTokenPurpose.PASSWORD_RESET
                else None
            ),
            expires_at=now + ttl,
        )
    )
    db.flush()
    return secret.value


def pending(
    db: Session, purpose: AccountTokenPurpose, presented: str, now: datetime, *, lock: bool
) -> Redeemed:
    """The token and its user, if it can still be used (InvalidRequestError otherwise).

    Unauthenticated: the token names its tenant (services.presented_secrets). With `lock`, two
    requests racing with one token serialise: the second sees it used.
    """
    found = presented_secrets.unspent(
        db,
        AccountToken,
        _KINDS[purpose],
        presented,
        now,
        lock=lock,
        where=AccountToken.purpose == purpose,
    )
    if found is None:
        raise InvalidRequestError(INVALID)
    token, user = found
    stale = (
        token.password_fingerprint is not None
        and token.password_fingerprint != password_fingerprint(user.password_hash)
    )
    if user.status is not UserStatus.ACTIVE or token.email != user.email or stale:
        raise InvalidRequestError(INVALID)
    return Redeemed(token=token, user=user)


def tenant_name(db: Session, tenant_id: uuid.UUID) -> str:
    return db.get_one(Tenant, tenant_id).name
