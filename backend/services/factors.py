"""Second factors: which login needs one, their checks, removal and the admin's reset.

Enrolment is services/enrolment.py's. A TOTP secret is sealed at rest
(security/sealing.py, the factor's id as associated data). A code is accepted once: the
factor remembers the time step of the last code it took, under a row lock, so a replay
within the window (or a race of two requests) fails. A passkey's assertion is checked by
services/passkeys.py against a challenge it uses up.

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

from backend.db.models import Factor, FactorKind, MfaChallenge, Tenant, User, WebauthnChallenge
from backend.domain.assurance import MFA, OTP
from backend.domain.errors import NotFoundError, SecondFactorFailedError
from backend.domain.policy import MFA_OFF, MFA_REQUIRED, TenantPolicy
from backend.mail.messages import Mail, MailKind
from backend.security import totp
from backend.security.sealing import Sealer, UnsealError
from backend.services import (
    audit,
    credentials,
    cutoff,
    lockout,
    mail,
    passkeys,
    recovery_codes,
    sessions,
)
from backend.services.effects import Effects
from backend.services.principals import Principal

WRONG_FACTOR = "the second factor is wrong, already used, or cannot be checked now"


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
    """An admin removes every factor, recovery code and pending challenge of a user (an
    mfa_token, a passkey ceremony's), and ends the user's sessions and access tokens
    (whoever held the lost factor may be signed in). The user is told by mail. Returns
    how many factors were removed."""
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
    for challenges in (MfaChallenge, WebauthnChallenge):
        db.execute(
            delete(challenges).where(
                challenges.tenant_id == tenant_id, challenges.user_id == user_id
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
    passkey: passkeys.Answer | None = None,
) -> tuple[str, ...]:
    """Check a second factor of `user` (a TOTP code, a passkey's assertion, or a recovery
    code); the methods it proves, for `amr`. Refused (SecondFactorFailedError, the
    failure counted) when wrong, replayed or missing, and while the account is locked,
    whatever was given."""
    tenant_id, user_id = user.tenant_id, user.id
    policy = credentials.tenant_policy(db, tenant_id)
    proved: tuple[str, ...] = ()
    if not lockout.locked(user.locked_until, now):
        if otp:
            proved = (OTP, MFA) if _take_any_code(db, sealer, user, otp, now) else ()
        elif passkey is not None:
            proved = passkeys.second_factor(db, passkey, tenant_id, user_id, now)
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
            data={"reason": outcome.value, "method": _method(otp, passkey)},
        )
        raise SecondFactorFailedError(WRONG_FACTOR)
    return proved


def _method(otp: str | None, passkey: passkeys.Answer | None) -> str:
    if otp:
        return "otp"
    return "webauthn" if passkey is not None else "recovery_code"


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
    return any(take_code(sealer, factor, code, now) for factor in factors)


def take_code(sealer: Sealer, factor: Factor, code: str, now: datetime) -> bool:
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
