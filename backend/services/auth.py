"""The token endpoint's grants: password, refresh_token and the mfa grant."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.domain.assurance import PASSWORD
from backend.domain.code_flow import OIDC_SCOPES
from backend.domain.errors import InvalidGrantError, InvalidScopeError, LoginFailedError
from backend.domain.policy import TenantPolicy
from backend.domain.scopes import Scope, format_scopes
from backend.domain.standing import may_act
from backend.domain.token_lifetime import Carried, carried
from backend.security.id_tokens import IdTokenSigner
from backend.security.passwords import PasswordService
from backend.security.sealing import Sealer
from backend.security.tokens import AccessTokenCodec
from backend.services import audiences, audit, factors, lockout, mfa_challenges, sessions, subjects
from backend.services.effects import Effects
from backend.services.sessions import RefreshPolicy

# One message for every credential failure, so it cannot tell which part was wrong.
BAD_CREDENTIALS = "invalid username or password"
ENROL_FIRST = (
    "this tenant requires a second factor: log in with scope `me` and enrol one "
    "(POST /me/factors/totp)"
)
# The audit target of a login attempt for an unknown email, cut to fit the column:
# the email is the attacker's text, so its length must be bounded.
_TARGET_LENGTH = 120


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    # The authorization code grant's, when `openid` was asked.
    id_token: str | None = None


@dataclass(frozen=True, slots=True)
class PasswordLogin:
    tenant_slug: str
    email: str
    password: str
    requested_scopes: frozenset[str]
    user_agent: str = ""
    # The API the tokens are for (services/audiences.py); None: Tessera's own.
    audience: audiences.Audience | None = None


@dataclass(frozen=True, slots=True)
class Issuers:
    """What a grant needs to mint tokens, built once per process."""

    codec: AccessTokenCodec
    refresh: RefreshPolicy
    platform_tenant_slug: str
    id_tokens: IdTokenSigner


@dataclass(frozen=True, slots=True)
class VerifiedLogin:
    """A password login that passed every check, not yet recorded."""

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    subject: subjects.TokenSubject
    # An argon2id re-hash of a legacy hash, to store on success; None to keep it.
    new_hash: str | None
    now: datetime


def verify_login(db: Session, passwords: PasswordService, login: PasswordLogin) -> VerifiedLogin:
    """Check a password login as the password grant and the hosted sign-in page both do.

    An unknown tenant, an unknown user, a wrong password and a locked account are
    indistinguishable, in message and (through a dummy hash verification) in time. A
    wrong password counts towards the tenant's lockout (see services/lockout.py), which
    refuses new logins only: the account's sessions go on. A failure is audited
    (`auth.login_failed` with a reason) and kept although the request fails; except in an
    unknown tenant, which has no log to write to.
    """
    # One statement: tenant, user and the user's scopes (see subjects.load_login).
    found = subjects.load_login(db, login.tenant_slug, login.email, datetime.now(UTC))
    checked = passwords.verify_and_update(login.password, found.password_hash if found else None)
    if found is None:
        raise InvalidGrantError(BAD_CREDENTIALS)
    tenant_id, user_id, subject = found.tenant_id, found.user_id, found.subject
    if user_id is None or subject is None:
        target = f"email:{login.email}"[:_TARGET_LENGTH]
        raise _login_failed(db, tenant_id, target, "unknown_user", BAD_CREDENTIALS)
    now = datetime.now(UTC)
    outcome = lockout.check(
        db,
        tenant_id,
        user_id,
        TenantPolicy.from_json(found.tenant_policy),
        password_ok=checked.ok,
        locked_until=subject.locked_until,
        now=now,
    )
    # Locked or wrong, the same answer: saying "locked" would tell a guesser either that
    # this guess was right or (said to everyone) that the account exists.
    if outcome is not lockout.Check.PASSED:
        raise _login_failed(db, tenant_id, f"user:{user_id}", outcome.value, BAD_CREDENTIALS)
    refusal = may_act(subject.user_status, subject.tenant_status)
    if refusal is not None:
        raise _login_failed(db, tenant_id, f"user:{user_id}", refusal.value, refusal.message)
    return VerifiedLogin(tenant_id, user_id, subject, checked.new_hash, now)


def password_grant(
    db: Session, passwords: PasswordService, issuers: Issuers, login: PasswordLogin
) -> TokenGrant:
    """RFC 6749 §4.3: check the credentials (`verify_login`), issue an access token and
    open a session. A legacy (bcrypt) hash is replaced by an argon2id one on success,
    and the success is audited (`auth.login_succeeded`). A user with a second factor
    gets no token here but MfaRequiredError with an `mfa_token` for `mfa_grant`
    (audited `auth.mfa_challenged`); under the tenant's `mfa: required`, one without a
    factor past the grace gets the scope `me` only, to enrol one."""
    verified = verify_login(db, passwords, login)
    tenant_id, user_id, now = verified.tenant_id, verified.user_id, verified.now
    held = verified.subject.scopes_in(issuers.platform_tenant_slug)
    audience = login.audience or audiences.own(issuers.codec.audience)
    issued_at = int(now.timestamp())
    granted = carried(
        audience.grant(login.requested_scopes, held),
        verified.subject.lapses,
        issued_at,
    )
    if login.requested_scopes and not granted.scopes:
        raise InvalidScopeError("none of the requested scopes is granted to this user")
    step = factors.login_step(db, tenant_id, user_id, now)
    if step is factors.LoginStep.ENROL_FIRST:
        granted = carried(granted.scopes & {Scope.ME}, verified.subject.lapses, issued_at)
        if not granted.scopes:
            raise InvalidScopeError(ENROL_FIRST)
    if step is factors.LoginStep.SECOND_FACTOR:
        raise mfa_challenges.challenge(
            db,
            tenant_id=tenant_id,
            user_id=user_id,
            scope=format_scopes(login.requested_scopes),
            resource=audience.stored,
            user_agent=login.user_agent,
            now=now,
        )
    return _log_in(
        db,
        issuers,
        tenant_id,
        user_id,
        granted,
        issued_at,
        now=now,
        user_agent=login.user_agent,
        amr=(PASSWORD,),
        new_hash=verified.new_hash,
        audience=audience,
    )


@dataclass(frozen=True, slots=True)
class MfaLogin:
    """The mfa grant's form: the challenge, and a TOTP code or a recovery code."""

    mfa_token: str
    otp: str | None
    recovery_code: str | None


def mfa_grant(
    db: Session, sealer: Sealer, effects: Effects, issuers: Issuers, login: MfaLogin
) -> TokenGrant:
    """Complete a password login with its second factor (`urn:tessera:params:oauth:
    grant-type:mfa`): the tokens the password grant would have issued, for the scopes
    it asked (as the user's roles stand now), with `amr` naming both factors.

    The challenge is used up only by a success; a wrong factor counts towards the
    lockout (SecondFactorFailedError, invalid_grant) and the challenge stays for another
    try until it expires.
    """
    now = datetime.now(UTC)
    found = mfa_challenges.pending(db, login.mfa_token, now)
    user = found.user
    proved = factors.verify(
        db, sealer, effects, user, otp=login.otp, recovery_code=login.recovery_code, now=now
    )
    found.challenge.used_at = now
    subject = subjects.load(db, user.tenant_id, user.id, now)
    if subject is None:
        raise InvalidGrantError(mfa_challenges.INVALID)
    refusal = may_act(subject.user_status, subject.tenant_status)
    if refusal is not None:
        raise InvalidGrantError(refusal.message)
    requested = frozenset(found.challenge.scope.split())
    # The password grant's API (checked then, client and all): kept by its challenge.
    audience = audiences.for_session(
        db, issuers.codec.audience, found.challenge.resource, (), requested
    )
    held = subject.scopes_in(issuers.platform_tenant_slug)
    issued_at = int(now.timestamp())
    granted = carried(audience.grant(requested, held), subject.lapses, issued_at)
    if requested and not granted.scopes:
        raise InvalidScopeError("none of the requested scopes is granted to this user")
    return _log_in(
        db,
        issuers,
        user.tenant_id,
        user.id,
        granted,
        issued_at,
        now=now,
        user_agent=found.challenge.user_agent,
        amr=(PASSWORD, *proved),
        new_hash=None,
        audience=audience,
    )


def _log_in(
    db: Session,
    issuers: Issuers,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    granted: Carried,
    issued_at: int,
    *,
    now: datetime,
    user_agent: str,
    amr: tuple[str, ...],
    new_hash: str | None,
    audience: audiences.Audience,
) -> TokenGrant:
    """A login that succeeded: its session (for `audience`), the user's row and the
    audit event, then the tokens."""
    scope = format_scopes(granted.scopes)
    refresh_token, session = sessions.start_session(
        issuers.refresh,
        tenant_id=tenant_id,
        user_id=user_id,
        scope=scope,
        user_agent=user_agent,
        now=now,
        amr=" ".join(amr),
        resource=audience.stored,
    )
    data: dict[str, object] = {"scope": scope}
    if amr != (PASSWORD,):
        data["amr"] = list(amr)
    event = audit.event_params(
        tenant_id=tenant_id,
        actor=f"user:{user_id}",
        action="auth.login_succeeded",
        target=f"user:{user_id}",
        data=data,
    )
    # One statement: the user's row, the session and the audit event.
    token_version: int = db.execute(
        _LOGIN_WRITES, {**session, **event, "new_hash": new_hash}
    ).scalar_one()
    return issue(
        issuers,
        tenant_id,
        user_id,
        token_version,
        granted,
        issued_at,
        refresh_token,
        audience,
        amr=amr,
    )


def refresh_grant(
    db: Session,
    issuers: Issuers,
    presented: str,
    requested_scopes: frozenset[str],
    resources: Sequence[str] = (),
) -> TokenGrant:
    """RFC 6749 §6: rotate the refresh token and issue an access token from current roles.

    The scope may be narrowed, never widened beyond the login's; a role removed since
    the login is gone from the new token, and so is a lapsed grant's. The token is for
    the session's API: a `resource` naming another is invalid_target. A lockout does not
    stop it: it stops password guessing, and a refresh token proves a login made with the
    right password. The session's `amr` (how its login authenticated) carries on.
    """
    now = datetime.now(UTC)
    rotation = sessions.rotate(db, issuers.refresh, presented, now)
    subject = rotation.subject
    refusal = may_act(subject.user_status, subject.tenant_status)
    if refusal is not None:
        raise InvalidGrantError(refusal.message)
    audience = audiences.for_session(db, issuers.codec.audience, rotation.resource, resources)
    original = frozenset(rotation.scope.split())
    if not requested_scopes <= original:
        widened = format_scopes(frozenset(requested_scopes - original))
        raise InvalidScopeError(f"a refresh cannot add scopes beyond the login's: {widened}")
    issued_at = int(now.timestamp())
    granted = carried(
        # Not grant(requested or original): a login that was granted nothing would
        # then refresh into everything held.
        audience.grant(frozenset(), subject.scopes_in(issuers.platform_tenant_slug))
        & (requested_scopes or original),
        subject.lapses,
        issued_at,
    )
    return issue(
        issuers,
        subject.tenant_id,
        subject.user_id,
        subject.token_version,
        granted,
        issued_at,
        rotation.token,
        audience,
        # OpenID Connect's scopes of a code-flow session stay with it (userinfo needs openid).
        oidc=frozenset(rotation.scope.split()) & OIDC_SCOPES,
        amr=tuple(sessions.amr_of(db, subject.tenant_id, rotation.family_id).split()),
    )


# A successful login: clear the failure count and lock, note the time, store a re-hashed
# password if any, open the session and audit it; returns the current token_version.
# Plain SQL built once (ORM constructs cost ~1 ms a login to build and compile).
_LOGIN_WRITES = text(
    # Module constants only: no request data reaches the SQL text.
    f"WITH {sessions.START_SESSION_CTES}, {audit.EVENT_CTE}, "  # noqa: S608
    "login AS (UPDATE users SET last_login_at = :now, failed_logins = 0, locked_until = NULL, "
    "password_hash = coalesce(CAST(:new_hash AS varchar), password_hash) "
    "WHERE tenant_id = :tenant_id AND id = :user_id RETURNING token_version) "
    "SELECT token_version FROM login"
)


def _login_failed(
    db: Session, tenant_id: uuid.UUID, target: str, reason: str, description: str
) -> LoginFailedError:
    """Audit a failed password login; the error returned keeps the event (and any
    counted failure) though the request fails."""
    audit.record(
        db,
        tenant_id=tenant_id,
        actor=audit.ANONYMOUS,
        action="auth.login_failed",
        target=target,
        data={"reason": reason},
    )
    return LoginFailedError(description)


def issue(
    issuers: Issuers,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    token_version: int,
    granted: Carried,
    issued_at: int,
    refresh_token: str | None,
    audience: audiences.Audience,
    *,
    oidc: frozenset[str] = frozenset(),
    amr: tuple[str, ...] = (),
) -> TokenGrant:
    """The access token of every grant that signs a user in: for `audience`, ending at
    the latest when one of its scopes lapses, with the login's methods `amr` and the
    `acr` they make (the session keeps `amr`, so each refresh carries it on)."""
    scope = " ".join(filter(None, [format_scopes(granted.scopes), *sorted(oidc)]))
    issued = issuers.codec.issue(
        user_id=user_id,
        tenant_id=tenant_id,
        scope=scope,
        token_version=token_version,
        now=issued_at,
        not_after=granted.not_after,
        audience=audience.identifier,
        amr=amr,
    )
    return TokenGrant(
        access_token=issued.token,
        expires_in=issued.expires_in,
        scope=scope,
        refresh_token=refresh_token,
    )
