"""The token endpoint's grants: password and refresh_token."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from backend.db.models import Tenant, TenantStatus, User, UserStatus
from backend.db.tenant_context import enter_tenant_by_slug
from backend.domain.errors import InvalidGrantError, InvalidScopeError, LoginFailedError
from backend.domain.policy import TenantPolicy
from backend.domain.scopes import Scope, format_scopes, known_scopes
from backend.security.passwords import PasswordService
from backend.security.tokens import AccessTokenCodec
from backend.services import audit, lockout, refresh_tokens, roles, users
from backend.services.refresh_tokens import RefreshPolicy

# One message for every credential failure, so it cannot tell which part was wrong.
BAD_CREDENTIALS = "invalid username or password"
ACCOUNT_LOCKED = "this user account is temporarily locked; try again later"
# The audit target of a login attempt for an unknown email, cut to fit the column:
# the email is the attacker's text, so its length must be bounded.
_TARGET_LENGTH = 120


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None


@dataclass(frozen=True, slots=True)
class PasswordLogin:
    tenant_slug: str
    email: str
    password: str
    requested_scopes: frozenset[Scope]
    user_agent: str = ""


@dataclass(frozen=True, slots=True)
class Issuers:
    """What a grant needs to mint tokens, built once per process."""

    codec: AccessTokenCodec
    refresh: RefreshPolicy
    platform_tenant_slug: str


def password_grant(
    db: Session, passwords: PasswordService, issuers: Issuers, login: PasswordLogin
) -> TokenGrant:
    """RFC 6749 §4.3: check the credentials, issue an access token and open a session.

    An unknown tenant, an unknown user, a wrong password and a locked account are
    indistinguishable, in message and (through a dummy hash verification) in time. A
    wrong password counts towards the tenant's lockout threshold. A legacy (bcrypt) hash
    is replaced by an argon2id one on success.

    Success and failure are audited (`auth.login_succeeded`, `auth.login_failed` with a
    reason), the failure kept although the request fails; except in an unknown tenant,
    which has no log to write to.
    """
    tenant_id = enter_tenant_by_slug(db, login.tenant_slug)
    tenant = db.get(Tenant, tenant_id) if tenant_id is not None else None
    user = users.find_by_email(db, tenant.id, login.email) if tenant is not None else None
    checked = passwords.verify_and_update(login.password, user.password_hash if user else None)
    if tenant is None:
        raise InvalidGrantError(BAD_CREDENTIALS)
    if user is None:
        target = f"email:{login.email}"[:_TARGET_LENGTH]
        raise _login_failed(db, tenant.id, target, "unknown_user", BAD_CREDENTIALS)
    now = datetime.now(UTC)
    if not checked.ok:
        lockout.record_failure(db, tenant.id, user.id, TenantPolicy.from_json(tenant.policy), now)
        raise _login_failed(db, tenant.id, f"user:{user.id}", "wrong_password", BAD_CREDENTIALS)
    # Locked: even the right password gets the generic answer. Telling it apart would
    # tell a guesser which guess was right, and the lock would stop nothing.
    if lockout.is_locked(user, now):
        raise _login_failed(db, tenant.id, f"user:{user.id}", "locked", BAD_CREDENTIALS)
    refusal = _inactive(user, tenant)
    if refusal is not None:
        raise _login_failed(db, tenant.id, f"user:{user.id}", *refusal)

    held = _held_scopes(db, issuers, tenant, user)
    granted = held & login.requested_scopes if login.requested_scopes else held
    if login.requested_scopes and not granted:
        raise InvalidScopeError("none of the requested scopes is granted to this user")

    user.last_login_at = now
    user.failed_logins = 0
    user.locked_until = None
    if checked.new_hash is not None:
        user.password_hash = checked.new_hash
    db.flush()
    scope = format_scopes(granted)
    refresh_token = refresh_tokens.start_family(
        db,
        issuers.refresh,
        tenant_id=tenant.id,
        user_id=user.id,
        scope=scope,
        user_agent=login.user_agent,
        now=now,
    )
    audit.record(
        db,
        tenant_id=tenant.id,
        actor=f"user:{user.id}",
        action="auth.login_succeeded",
        target=f"user:{user.id}",
        data={"scope": scope},
    )
    return _grant(issuers, user, scope, refresh_token)


def refresh_grant(
    db: Session, issuers: Issuers, presented: str, requested_scopes: frozenset[Scope]
) -> TokenGrant:
    """RFC 6749 §6: rotate the refresh token and issue an access token from current roles.

    The scope may be narrowed, never widened beyond the login's; a role removed since
    the login is gone from the new token. A locked account's sessions wait out the lock
    (the refresh token stays usable afterwards).
    """
    now = datetime.now(UTC)
    rotation = refresh_tokens.rotate(db, issuers.refresh, presented, now)
    tenant = db.get_one(Tenant, rotation.tenant_id)
    user = db.get_one(User, (rotation.tenant_id, rotation.user_id))
    _require_active(user, tenant)
    # Saying so is safe here: the caller has proved a past login, not guessed a password.
    if lockout.is_locked(user, now):
        raise InvalidGrantError(ACCOUNT_LOCKED)
    original = known_scopes(rotation.scope)
    if not requested_scopes <= original:
        widened = format_scopes(frozenset(requested_scopes - original))
        raise InvalidScopeError(f"a refresh cannot add scopes beyond the login's: {widened}")
    wanted = requested_scopes or original
    scope = format_scopes(wanted & _held_scopes(db, issuers, tenant, user))
    return _grant(issuers, user, scope, rotation.token)


def _require_active(user: User, tenant: Tenant) -> None:
    refusal = _inactive(user, tenant)
    if refusal is not None:
        raise InvalidGrantError(refusal[1])


def _inactive(user: User, tenant: Tenant) -> tuple[str, str] | None:
    """(audit reason, description) if the user or the tenant may not log in now."""
    if user.status is not UserStatus.ACTIVE:
        return "disabled", "this user account is disabled"
    if tenant.status is not TenantStatus.ACTIVE:
        return "tenant_suspended", "this tenant is suspended"
    return None


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


def _held_scopes(db: Session, issuers: Issuers, tenant: Tenant, user: User) -> frozenset[Scope]:
    return roles.effective_scopes(
        db, tenant.id, user.id, platform=tenant.slug == issuers.platform_tenant_slug
    )


def _grant(issuers: Issuers, user: User, scope: str, refresh_token: str | None) -> TokenGrant:
    issued = issuers.codec.issue(
        user_id=user.id, tenant_id=user.tenant_id, scope=scope, token_version=user.token_version
    )
    return TokenGrant(
        access_token=issued.token,
        expires_in=issued.expires_in,
        scope=scope,
        refresh_token=refresh_token,
    )
