"""Second factors: TOTP enrolment and checks, and the admin's reset.

A TOTP secret is sealed at rest (security/sealing.py, the factor's id as associated
data) and shown once, at enrolment, as an otpauth:// URI and its QR code. Enrolment is
confirmed with a current code, which answers with a fresh set of recovery codes. A code
is accepted once: the factor remembers the time step of the last code it took, under a
row lock, so a replay within the window (or a race of two requests) fails.

Every check of a second factor goes through `verify`, under the same lockout as
passwords: a wrong factor counts as a failed login, and while the account is locked no
factor is checked at all.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Exists, delete, exists, select
from sqlalchemy.orm import Session

from backend.db.models import Factor, FactorKind, MfaChallenge, Tenant, User
from backend.domain.assurance import MFA, OTP
from backend.domain.errors import ConflictError, NotFoundError, SecondFactorFailedError
from backend.domain.policy import MFA_OFF, MFA_REQUIRED, TenantPolicy
from backend.mail.messages import Mail, MailKind
from backend.security import totp
from backend.security.sealing import Sealer, UnsealError
from backend.services import audit, credentials, cutoff, lockout, mail, recovery_codes, sessions
from backend.services.effects import Effects
from backend.services.principals import Principal

WRONG_FACTOR = "the second factor is wrong, already used, or cannot be checked now"


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    factor_id: uuid.UUID
    uri: str
    qr_svg: str


class LoginStep(StrEnum):
    """What a login whose password was right needs next, by the tenant's `mfa` policy."""

    # Nothing: tokens now.
    DONE = "done"
    # The user's second factor (mfa_required, or the hosted page's second step).
    SECOND_FACTOR = "second_factor"
    # Policy `required`, no factor and the grace is over: tokens for `me` only, to enrol
    # (the hosted sign-in enrols one before the session starts).
    ENROL_FIRST = "enrol_first"
    # Policy `required`, no factor, within the grace: the hosted sign-in offers enrolment
    # (with a "later"); for the password grant, as DONE.
    ENROL_OFFERED = "enrol_offered"


@dataclass(frozen=True, slots=True)
class Next:
    step: LoginStep
    # Under `required` without a factor: whole days left to enrol (0 once overdue).
    grace_days_left: int


def next_step(db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> Next:
    """The step after the password, in one query: the policy, the factor, the join date."""
    policy_json, joined, enrolled = db.execute(
        select(Tenant.policy, User.created_at, _has_factor(tenant_id, user_id))
        .join(User, User.tenant_id == Tenant.id)
        .where(Tenant.id == tenant_id, User.id == user_id)
    ).one()
    policy = TenantPolicy.from_json(policy_json)
    left = policy.grace_days_left(joined, now)
    if policy.mfa == MFA_OFF:
        return Next(LoginStep.DONE, left)
    if enrolled:
        return Next(LoginStep.SECOND_FACTOR, left)
    if policy.enrolment_overdue(joined, now):
        return Next(LoginStep.ENROL_FIRST, left)
    return Next(LoginStep.ENROL_OFFERED if policy.mfa == MFA_REQUIRED else LoginStep.DONE, left)


def login_step(db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> LoginStep:
    """next_step's step alone."""
    return next_step(db, tenant_id, user_id, now).step


def _has_factor(tenant_id: uuid.UUID, user_id: uuid.UUID) -> Exists:
    return exists().where(
        Factor.tenant_id == tenant_id,
        Factor.user_id == user_id,
        Factor.confirmed_at.is_not(None),
    )


def has_factor(db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether the user has a confirmed second factor."""
    return bool(db.scalar(select(_has_factor(tenant_id, user_id))))


def confirmed(db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[Factor]:
    return list(
        db.scalars(
            select(Factor)
            .where(
                Factor.tenant_id == tenant_id,
                Factor.user_id == user_id,
                Factor.confirmed_at.is_not(None),
            )
            .order_by(Factor.created_at)
        )
    )


def start_totp(db: Session, sealer: Sealer, actor: Principal, label: str) -> TotpEnrolment:
    """Begin TOTP enrolment: a new secret, sealed, waiting for its first code. An
    enrolment begun before and not confirmed is dropped; a confirmed TOTP factor must be
    removed first (409)."""
    tenant_id, user_id = actor.tenant_id, actor.require_user()
    if credentials.tenant_policy(db, tenant_id).mfa == MFA_OFF:
        raise ConflictError("this tenant has turned second factors off")
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
    """Activate the pending TOTP factor with a current code; returns the new recovery
    codes (the old set, if any, dies). A wrong code leaves the enrolment pending."""
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
    if not _take_code(sealer, factor, code, datetime.now(UTC)):
        audit.record_by(db, actor, "factor.enrolment_failed", f"user:{user_id}", {"kind": "totp"})
        raise SecondFactorFailedError("the code is wrong or expired: try the current one")
    factor.confirmed_at = factor.last_used_at
    codes = recovery_codes.replace(db, tenant_id, user_id)
    audit.record_by(
        db, actor, "factor.enrolled", f"user:{user_id}", {"kind": "totp", "id": str(factor.id)}
    )
    return codes


def regenerate_recovery_codes(db: Session, actor: Principal) -> list[str]:
    """A new set of recovery codes; the old one stops working. Needs a confirmed factor."""
    tenant_id, user_id = actor.tenant_id, actor.require_user()
    if not has_factor(db, tenant_id, user_id):
        raise ConflictError("enrol a second factor first: recovery codes stand in for one")
    codes = recovery_codes.replace(db, tenant_id, user_id)
    audit.record_by(db, actor, "factor.recovery_codes_regenerated", f"user:{user_id}")
    return codes


def remove(db: Session, actor: Principal, factor_id: uuid.UUID) -> None:
    """Remove one of your factors; with the last one go the recovery codes."""
    tenant_id, user_id = actor.tenant_id, actor.require_user()
    factor = db.get(Factor, (tenant_id, factor_id), with_for_update=True)
    if factor is None or factor.user_id != user_id:
        raise NotFoundError("factor")
    db.delete(factor)
    db.flush()
    if not has_factor(db, tenant_id, user_id):
        recovery_codes.remove_all(db, tenant_id, user_id)
    audit.record_by(
        db, actor, "factor.removed", f"user:{user_id}", {"kind": factor.kind, "id": str(factor_id)}
    )


def reset(db: Session, effects: Effects, actor: Principal, user_id: uuid.UUID) -> int:
    """An admin removes every factor and recovery code of a user, and ends the user's
    sessions and access tokens (whoever held the lost factor may be signed in). The user
    is told by mail. Returns how many factors were removed."""
    tenant_id = actor.tenant_id
    user = db.get(User, (tenant_id, user_id), with_for_update=True)
    if user is None:
        raise NotFoundError("user")
    removed = len(
        db.scalars(
            delete(Factor)
            .where(Factor.tenant_id == tenant_id, Factor.user_id == user_id)
            .returning(Factor.id)
        ).all()
    )
    recovery_codes.remove_all(db, tenant_id, user_id)
    db.execute(
        delete(MfaChallenge).where(
            MfaChallenge.tenant_id == tenant_id, MfaChallenge.user_id == user_id
        )
    )
    now = datetime.now(UTC)
    ended = sessions.end_user_sessions(db, tenant_id, user_id, reason="factors_reset", now=now)
    cutoff.users(db, effects, tenant_id, [user_id], reason=cutoff.Reason.FACTORS_RESET)
    audit.record_by(
        db,
        actor,
        "user.factors_reset",
        f"user:{user_id}",
        {"factors_removed": removed, "sessions_ended": ended},
    )
    tenant_name = db.get_one(Tenant, tenant_id).name
    mail.send_after_commit(
        db, effects, Mail(kind=MailKind.FACTORS_RESET, to=user.email, tenant_name=tenant_name)
    )
    return removed


def verify(
    db: Session,
    sealer: Sealer,
    effects: Effects,
    user: User,
    *,
    otp: str | None,
    recovery_code: str | None,
    now: datetime,
) -> tuple[str, ...]:
    """Check a second factor of `user` (a TOTP code, or a recovery code); the methods it
    proves, for `amr`. Refused (SecondFactorFailedError, the failure counted) when wrong,
    replayed or missing, and while the account is locked, whatever was given."""
    tenant_id, user_id = user.tenant_id, user.id
    policy = credentials.tenant_policy(db, tenant_id)
    proved: tuple[str, ...] = ()
    if not lockout.locked(user.locked_until, now):
        if otp:
            proved = (OTP, MFA) if _take_any_code(db, sealer, user, otp, now) else ()
        elif recovery_code and recovery_codes.use(db, tenant_id, user_id, recovery_code, now):
            proved = (MFA,)
            _recovery_code_used(db, effects, user)
    outcome = lockout.check(
        db,
        tenant_id,
        user_id,
        policy,
        password_ok=bool(proved),
        locked_until=user.locked_until,
        now=now,
    )
    if outcome is not lockout.Check.PASSED:
        audit.record(
            db,
            tenant_id=tenant_id,
            actor=f"user:{user_id}",
            action="auth.second_factor_failed",
            target=f"user:{user_id}",
            data={"reason": outcome.value, "method": "otp" if otp else "recovery_code"},
        )
        raise SecondFactorFailedError(WRONG_FACTOR)
    return proved


def _take_any_code(db: Session, sealer: Sealer, user: User, code: str, now: datetime) -> bool:
    factors = db.scalars(
        select(Factor)
        .where(
            Factor.tenant_id == user.tenant_id,
            Factor.user_id == user.id,
            Factor.kind == FactorKind.TOTP,
            Factor.confirmed_at.is_not(None),
        )
        .with_for_update()
    )
    return any(_take_code(sealer, factor, code, now) for factor in factors)


def _take_code(sealer: Sealer, factor: Factor, code: str, now: datetime) -> bool:
    """Accept `code` for this (locked) factor if it is current and not yet used."""
    if factor.secret is None or len(code) != totp.DIGITS or not (code.isascii() and code.isdigit()):
        return False
    try:
        secret = sealer.open(factor.secret, factor.id.bytes).decode()
    except UnsealError:
        return False
    step = totp.matching_step(secret, code, now.timestamp(), factor.last_step)
    if step is None:
        return False
    factor.last_step, factor.last_used_at = step, now
    return True


def _recovery_code_used(db: Session, effects: Effects, user: User) -> None:
    left = recovery_codes.remaining(db, user.tenant_id, user.id)
    audit.record(
        db,
        tenant_id=user.tenant_id,
        actor=f"user:{user.id}",
        action="factor.recovery_code_used",
        target=f"user:{user.id}",
        data={"remaining": left},
    )
    mail.send_after_commit(
        db,
        effects,
        Mail(
            kind=MailKind.RECOVERY_CODE_USED,
            to=user.email,
            tenant_name=db.get_one(Tenant, user.tenant_id).name,
            details={"remaining": str(left)},
        ),
    )
