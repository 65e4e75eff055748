"""Enrolling second factors: a TOTP authenticator app or a passkey; recovery codes.

A TOTP secret is shown once, at enrolment, as an otpauth:// URI and its QR code, and
sealed at rest (security/sealing.py); enrolment is confirmed with a current code. A
passkey (WebAuthn) is enrolled in one ceremony: options with a challenge for this user,
then the browser's new credential, verified and stored (services/passkeys.py). Whichever
kind, a user's first factor comes with recovery codes (`_confirm`, the one place for
that rule); a later one leaves the set as it is.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Factor, FactorKind, Tenant, User
from backend.domain.errors import ConflictError, NotFoundError, SecondFactorFailedError
from backend.domain.passkeys import Ceremony
from backend.domain.policy import MFA_OFF
from backend.security import passkeys as webauthn
from backend.security import totp
from backend.security.sealing import Sealer, UnsealError
from backend.services import audit, concurrency, credentials, factors, passkeys, recovery_codes
from backend.services.principals import Principal

# A passkey is registered once per tenant (db/models/factors.py).
CREDENTIAL_INDEX = "ix_factors_tenant_id_credential_id"


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    factor_id: uuid.UUID
    uri: str
    qr_svg: str


@dataclass(frozen=True, slots=True)
class Enrolled:
    factor_id: uuid.UUID
    # Ten codes with a user's first factor; none with a later one (the set stands).
    recovery_codes: list[str]


def start_totp(db: Session, sealer: Sealer, actor: Principal, label: str) -> TotpEnrolment:
    """Begin TOTP enrolment: a new secret, sealed, waiting for its first code. An
    enrolment begun before and not confirmed is dropped; a confirmed TOTP factor must be
    removed first (409)."""
    tenant_id, user_id = actor.tenant_id, actor.require_user()
    _refuse_when_off(db, tenant_id)
    pending_or_done = list(
        db.scalars(
            select(Factor)
            .where(
                Factor.tenant_id == tenant_id,
                Factor.user_id == user_id,
                Factor.kind == FactorKind.TOTP,
            )
            .with_for_update()
        )
    )
    if any(f.confirmed_at is not None for f in pending_or_done):
        raise ConflictError("a TOTP factor is enrolled already: remove it first")
    for stale in pending_or_done:
        db.delete(stale)
    secret = totp.new_secret()
    factor_id = uuid.uuid4()
    db.add(
        Factor(
            tenant_id=tenant_id,
            id=factor_id,
            user_id=user_id,
            kind=FactorKind.TOTP,
            secret=sealer.seal(secret.encode(), factor_id.bytes),
            label=label,
        )
    )
    db.flush()
    audit.record_by(db, actor, "factor.enrolment_started", f"user:{user_id}", {"kind": "totp"})
    return _enrolment(db, tenant_id, user_id, factor_id, secret)


def pending_totp(db: Session, sealer: Sealer, actor: Principal) -> TotpEnrolment | None:
    """The TOTP enrolment begun and not yet confirmed, shown again (the hosted page after
    a wrong code); None when there is none."""
    tenant_id, user_id = actor.tenant_id, actor.require_user()
    factor = db.scalar(
        select(Factor).where(
            Factor.tenant_id == tenant_id,
            Factor.user_id == user_id,
            Factor.kind == FactorKind.TOTP,
            Factor.confirmed_at.is_(None),
        )
    )
    if factor is None or factor.secret is None:
        return None
    try:
        secret = sealer.open(factor.secret, factor.id.bytes).decode()
    except UnsealError:
        return None
    return _enrolment(db, tenant_id, user_id, factor.id, secret)


def _enrolment(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, factor_id: uuid.UUID, secret: str
) -> TotpEnrolment:
    """What an authenticator app scans: the otpauth:// URI, named by the user's email
    and the tenant, and its QR code."""
    user = db.get_one(User, (tenant_id, user_id))
    issuer = db.get_one(Tenant, tenant_id).name
    uri = totp.provisioning_uri(secret, user.email, issuer)
    return TotpEnrolment(factor_id=factor_id, uri=uri, qr_svg=totp.qr_svg(uri))


def confirm_totp(db: Session, sealer: Sealer, actor: Principal, code: str) -> list[str]:
    """Activate the pending TOTP factor with a current code; returns the recovery codes
    of a first factor (`_confirm`). A wrong code leaves the enrolment pending."""
    tenant_id, user_id = actor.tenant_id, actor.require_user()
    factor = db.scalar(
        select(Factor)
        .where(
            Factor.tenant_id == tenant_id,
            Factor.user_id == user_id,
            Factor.kind == FactorKind.TOTP,
            Factor.confirmed_at.is_(None),
        )
        .with_for_update()
    )
    if factor is None:
        raise NotFoundError("TOTP enrolment")
    if not factors.take_code(sealer, factor, code, datetime.now(UTC)):
        audit.record_by(db, actor, "factor.enrolment_failed", f"user:{user_id}", {"kind": "totp"})
        raise SecondFactorFailedError("the code is wrong or expired: try the current one")
    return _confirm(db, actor, factor, factor.last_used_at or datetime.now(UTC))


def start_webauthn(
    db: Session, rp: webauthn.RelyingParty, actor: Principal, label: str
) -> webauthn.Options:
    """Begin adding a passkey: PublicKeyCredentialCreationOptions for the browser, with a
    challenge for this user only (a ceremony begun before and not finished is dropped).
    The relying party's name is the tenant's."""
    tenant_id, user_id = actor.tenant_id, actor.require_user()
    _refuse_when_off(db, tenant_id)
    now = datetime.now(UTC)
    user = db.get_one(User, (tenant_id, user_id))
    challenge = passkeys.issue(db, tenant_id, Ceremony.REGISTRATION, user_id, now, label=label)
    audit.record_by(db, actor, "factor.enrolment_started", f"user:{user_id}", {"kind": "webauthn"})
    return webauthn.creation_options(
        rp,
        rp_name=db.get_one(Tenant, tenant_id).name or "Tessera",
        user_id=user_id.bytes,
        user_name=user.email,
        display_name=user.full_name or user.email,
        challenge=challenge,
        exclude=passkeys.registered(db, tenant_id, user_id),
    )


def confirm_webauthn(
    db: Session, rp: webauthn.RelyingParty, actor: Principal, credential: Mapping[str, Any]
) -> Enrolled:
    """Store the browser's new credential as a factor once it verifies against the
    user's registration challenge (origin, relying party id, user presence). The
    challenge is used up either way; a credential the tenant holds already is 409."""
    tenant_id, user_id = actor.tenant_id, actor.require_user()
    now = datetime.now(UTC)
    try:
        taken = passkeys.take(db, tenant_id, Ceremony.REGISTRATION, user_id, credential, now)
        new = webauthn.verify_registration(rp, credential, taken.challenge)
    except webauthn.CredentialError as exc:
        audit.record_by(
            db, actor, "factor.enrolment_failed", f"user:{user_id}", {"kind": "webauthn"}
        )
        raise SecondFactorFailedError(str(exc)) from exc
    factor = Factor(
        tenant_id=tenant_id,
        id=uuid.uuid4(),
        user_id=user_id,
        kind=FactorKind.WEBAUTHN,
        credential_id=new.credential_id,
        public_key=new.public_key,
        sign_count=new.sign_count,
        transports=new.transports,
        discoverable=new.discoverable,
        backup_eligible=new.backup_eligible,
        backed_up=new.backed_up,
        label=taken.label,
    )
    # The index decides, so that two confirms racing with one credential get a 409 each
    # but the first, not an integrity error.
    with concurrency.unique(db, CREDENTIAL_INDEX, "this passkey is registered already"):
        db.add(factor)
    return Enrolled(factor_id=factor.id, recovery_codes=_confirm(db, actor, factor, now))


def _refuse_when_off(db: Session, tenant_id: uuid.UUID) -> None:
    if credentials.tenant_policy(db, tenant_id).mfa == MFA_OFF:
        raise ConflictError("this tenant has turned second factors off")


def _confirm(db: Session, actor: Principal, factor: Factor, now: datetime) -> list[str]:
    """A factor's enrolment ended well: it counts from now on, and a user's first factor
    comes with recovery codes (a later one leaves the set as it is). Audited
    `factor.enrolled`."""
    tenant_id, user_id = actor.tenant_id, actor.require_user()
    # The user's row, locked: two enrolments ending at once agree on which was first.
    db.get_one(User, (tenant_id, user_id), with_for_update=True)
    first = not factors.has_factor(db, tenant_id, user_id)
    factor.confirmed_at = now
    codes = recovery_codes.replace(db, tenant_id, user_id) if first else []
    audit.record_by(
        db,
        actor,
        "factor.enrolled",
        f"user:{user_id}",
        {"kind": factor.kind.value, "id": str(factor.id)},
    )
    return codes


def regenerate_recovery_codes(db: Session, actor: Principal) -> list[str]:
    """A new set of recovery codes; the old one stops working. Needs a confirmed factor."""
    tenant_id, user_id = actor.tenant_id, actor.require_user()
    if not factors.has_factor(db, tenant_id, user_id):
        raise ConflictError("enrol a second factor first: recovery codes stand in for one")
    codes = recovery_codes.replace(db, tenant_id, user_id)
    audit.record_by(db, actor, "factor.recovery_codes_regenerated", f"user:{user_id}")
    return codes
