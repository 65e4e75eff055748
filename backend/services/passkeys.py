"""Passkeys (WebAuthn): ceremonies' challenges, and checks of a passkey's assertion.

Every ceremony starts with a random challenge stored here (webauthn_challenges), bound
to what it is for (domain/passkeys.Ceremony) and to the user it was issued to; it lives
five minutes and is used once. The browser's answer names the challenge it signed; the
answer deletes that row in one statement, so a replay, or two requests racing with one
answer, finds it gone. An answer that does not verify has used its challenge all the
same.

Enrolment and the second factor's rules (policy, lockout, audit) are services/factors.py's;
the sign-in with a passkey alone is services/passkey_sign_in.py's.
"""

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from backend.db.models import Factor, FactorKind, WebauthnChallenge
from backend.domain.assurance import MFA
from backend.domain.passkeys import (
    CHALLENGE_BYTES,
    CHALLENGE_TTL,
    Ceremony,
    counter_advanced,
    key_method,
)
from backend.security import passkeys
from backend.security.passkeys import Allowed, CredentialError, Options, RelyingParty
from backend.services import audit

# Expired challenges each new one clears: more than are made per challenge issued, so
# the table stays near its live rows, few enough to keep a page's request short.
_PURGED_AT_ONCE = 20


@dataclass(frozen=True, slots=True)
class Taken:
    """A challenge an answer used up."""

    challenge: bytes
    label: str


def issue(
    db: Session,
    tenant_id: uuid.UUID,
    ceremony: Ceremony,
    user_id: uuid.UUID | None,
    now: datetime,
    *,
    label: str = "",
) -> bytes:
    """A new challenge for `ceremony`. The user's earlier challenges for the same ceremony
    go (one ceremony at a time each, so a user cannot pile rows up), and so do some of
    the tenant's expired ones: those no other request is deleting (SKIP LOCKED), so
    concurrent sign-in pages neither wait for each other nor deadlock."""
    if user_id is not None:
        db.execute(
            delete(WebauthnChallenge).where(
                WebauthnChallenge.tenant_id == tenant_id,
                _bound(user_id),
                WebauthnChallenge.ceremony == ceremony,
            )
        )
    expired = (
        select(WebauthnChallenge.id)
        .where(WebauthnChallenge.tenant_id == tenant_id, WebauthnChallenge.expires_at <= now)
        .limit(_PURGED_AT_ONCE)
        .with_for_update(skip_locked=True)
    )
    db.execute(
        delete(WebauthnChallenge).where(
            WebauthnChallenge.tenant_id == tenant_id,
            WebauthnChallenge.id.in_(expired.scalar_subquery()),
        )
    )
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    db.add(
        WebauthnChallenge(
            tenant_id=tenant_id,
            id=uuid.uuid4(),
            user_id=user_id,
            ceremony=ceremony,
            challenge=challenge,
            label=label,
            expires_at=now + CHALLENGE_TTL,
        )
    )
    db.flush()
    return challenge


def take(
    db: Session,
    tenant_id: uuid.UUID,
    ceremony: Ceremony,
    user_id: uuid.UUID | None,
    credential: Mapping[str, Any],
    now: datetime,
) -> Taken:
    """Use up the challenge `credential` answers; CredentialError if it is not one of
    this ceremony's for this user (another user's, a used one, an expired one)."""
    challenge = passkeys.challenge_of(credential)
    row = db.execute(
        delete(WebauthnChallenge)
        .where(
            WebauthnChallenge.tenant_id == tenant_id,
            WebauthnChallenge.challenge == challenge,
            WebauthnChallenge.ceremony == ceremony,
            _bound(user_id),
        )
        .returning(WebauthnChallenge.expires_at, WebauthnChallenge.label)
    ).one_or_none()
    if row is None or row.expires_at <= now:
        raise CredentialError("the challenge is unknown, used or expired: start again")
    return Taken(challenge=challenge, label=row.label)


def _bound(user_id: uuid.UUID | None) -> ColumnElement[bool]:
    """The challenges of this user; of nobody yet, for None (a passkey sign-in's)."""
    if user_id is None:
        return WebauthnChallenge.user_id.is_(None)
    return WebauthnChallenge.user_id == user_id


def registered(db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[Allowed]:
    """The user's confirmed passkeys, as a ceremony offers or excludes them."""
    rows = db.execute(
        select(Factor.credential_id, Factor.transports).where(
            Factor.tenant_id == tenant_id,
            Factor.user_id == user_id,
            Factor.kind == FactorKind.WEBAUTHN,
            Factor.confirmed_at.is_not(None),
        )
    ).all()
    # Every passkey has its credential id; the column is shared with TOTP factors.
    return [
        Allowed(credential_id, transports) for credential_id, transports in rows if credential_id
    ]


def second_factor_options(
    db: Session, rp: RelyingParty, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> Options | None:
    """Assertion options for a user's passkeys after their password; None if they have
    none."""
    allow = registered(db, tenant_id, user_id)
    if not allow:
        return None
    challenge = issue(db, tenant_id, Ceremony.SECOND_FACTOR, user_id, now)
    return passkeys.request_options(rp, challenge=challenge, allow=allow, user_verification=False)


@dataclass(frozen=True, slots=True)
class Answer:
    """A passkey's assertion as a second factor, and whom it must be for."""

    rp: RelyingParty
    # The browser's PublicKeyCredential JSON, as the client sent it.
    credential: str


def second_factor(
    db: Session, answer: Answer, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> tuple[str, ...]:
    """Check a passkey's assertion as a user's second factor; the RFC 8176 methods it
    proves, or () when it does not (malformed, another challenge, another user's
    credential, a bad signature, a counter gone backwards)."""
    try:
        credential = passkeys.parse(answer.credential)
        taken = take(db, tenant_id, Ceremony.SECOND_FACTOR, user_id, credential, now)
        factor = find(db, tenant_id, passkeys.credential_id_of(credential))
        if factor is None or factor.user_id != user_id:
            return ()
        return check(
            db, answer.rp, factor, credential, taken.challenge, now, user_verification=False
        )
    except CredentialError:
        return ()


def find(db: Session, tenant_id: uuid.UUID, credential_id: bytes) -> Factor | None:
    """The confirmed passkey with this credential id, locked for its counter."""
    return db.scalar(
        select(Factor)
        .where(
            Factor.tenant_id == tenant_id,
            Factor.credential_id == credential_id,
            Factor.kind == FactorKind.WEBAUTHN,
            Factor.confirmed_at.is_not(None),
        )
        .with_for_update()
    )


def check(
    db: Session,
    rp: RelyingParty,
    factor: Factor,
    credential: Mapping[str, Any],
    challenge: bytes,
    now: datetime,
    *,
    user_verification: bool,
) -> tuple[str, ...]:
    """Verify an assertion against `factor` (locked), then its counter; record the use.
    A counter that did not go up is refused and audited (`factor.sign_count_regressed`):
    a copy of the key may be in use. The factor stays: its owner decides."""
    if factor.public_key is None:
        return ()
    try:
        asserted = passkeys.verify_assertion(
            rp,
            credential,
            challenge=challenge,
            public_key=factor.public_key,
            user_verification=user_verification,
        )
    except CredentialError:
        return ()
    stored = factor.sign_count or 0
    if not counter_advanced(stored, asserted.sign_count):
        audit.record(
            db,
            tenant_id=factor.tenant_id,
            actor=f"user:{factor.user_id}",
            action="factor.sign_count_regressed",
            target=f"user:{factor.user_id}",
            data={
                "kind": FactorKind.WEBAUTHN.value,
                "id": str(factor.id),
                "stored": stored,
                "presented": asserted.sign_count,
            },
        )
        return ()
    factor.sign_count, factor.backed_up, factor.last_used_at = (
        asserted.sign_count,
        asserted.backed_up,
        now,
    )
    return (key_method(bool(factor.backup_eligible)), MFA)
