"""Signing in with a passkey alone, where the tenant's policy allows it
(`passkey_login`, domain/policy.py).

The hosted sign-in page of such a tenant carries assertion options with a challenge of
its own (no user is known yet) and user verification required: the authenticator
checked a PIN or a biometric, so the passkey is two factors in one (possession and
knowledge or inherence), and the login's `amr` is the key's method and `mfa`. The
browser offers the discoverable credentials it holds; the assertion names one, which
names its user. Then the password's rules apply: the lockout (a bad signature counts,
a locked account's passkey is not checked), the user's and tenant's standing, and the
audit events of a login (`auth.login_failed`, `auth.login_succeeded`).
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from backend.db.models import User
from backend.domain.errors import LoginFailedError
from backend.domain.passkeys import Ceremony
from backend.domain.policy import TenantPolicy
from backend.domain.standing import may_act
from backend.security import passkeys as webauthn
from backend.security.passkeys import CredentialError, Options, RelyingParty
from backend.services import auth, lockout, passkeys, subjects, tenants

REFUSED = "this passkey cannot sign you in here: use your password"
_TARGET = "passkey"


@dataclass(frozen=True, slots=True)
class PasskeyLogin:
    verified: auth.VerifiedLogin
    # The login's RFC 8176 methods, space-separated.
    amr: str


def options(db: Session, rp: RelyingParty, tenant_slug: str, now: datetime) -> Options | None:
    """Options for the sign-in page of a tenant that allows passkey login; None for any
    other (or no) tenant."""
    tenant = tenants.enter_by_slug(db, tenant_slug)
    if tenant is None or not TenantPolicy.from_json(tenant.policy).allows_passkey_login:
        return None
    challenge = passkeys.issue(db, tenant.id, Ceremony.SIGN_IN, None, now)
    return webauthn.request_options(rp, challenge=challenge, allow=(), user_verification=True)


def sign_in(
    db: Session, rp: RelyingParty, tenant_slug: str, presented: str, now: datetime
) -> PasskeyLogin:
    """Check a passkey's assertion as a whole login; LoginFailedError (its audit event
    and any counted failure kept) when it cannot sign anyone in."""
    tenant = tenants.enter_by_slug(db, tenant_slug)
    if tenant is None:
        raise LoginFailedError(REFUSED)
    policy = TenantPolicy.from_json(tenant.policy)
    if not policy.allows_passkey_login:
        raise auth.login_failed(db, tenant.id, _TARGET, "passkey_login_off", REFUSED)
    try:
        credential = webauthn.parse(presented)
        taken = passkeys.take(db, tenant.id, Ceremony.SIGN_IN, None, credential, now)
        factor = passkeys.find(db, tenant.id, webauthn.credential_id_of(credential))
        handle = webauthn.user_handle_of(credential)
    except CredentialError as exc:
        raise auth.login_failed(db, tenant.id, _TARGET, "bad_passkey", REFUSED) from exc
    # A discoverable credential's user handle is the user's id: one naming another user
    # than the credential's is no assertion of that credential.
    if factor is None or (handle is not None and handle != factor.user_id.bytes):
        raise auth.login_failed(db, tenant.id, _TARGET, "unknown_passkey", REFUSED)
    user = db.get_one(User, (tenant.id, factor.user_id))
    target = f"user:{user.id}"
    proved: tuple[str, ...] = ()
    if not lockout.locked(user.locked_until, now):
        proved = passkeys.check(
            db, rp, factor, credential, taken.challenge, now, user_verification=True
        )
    outcome = lockout.check(
        db,
        tenant.id,
        user.id,
        policy,
        password_ok=bool(proved),
        locked_until=user.locked_until,
        now=now,
    )
    if outcome is not lockout.Check.PASSED:
        raise auth.login_failed(db, tenant.id, target, outcome.value, REFUSED)
    subject = subjects.load(db, tenant.id, user.id, now)
    refusal = None if subject is None else may_act(subject.user_status, subject.tenant_status)
    if subject is None or refusal is not None:
        reason = "deleted" if refusal is None else refusal.value
        raise auth.login_failed(db, tenant.id, target, reason, REFUSED)
    return PasskeyLogin(
        auth.VerifiedLogin(tenant.id, user.id, subject, None, now), " ".join(proved)
    )
