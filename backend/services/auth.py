"""Authentication: the password grant, and turning a bearer token into a principal."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from backend.db.models import Tenant, TenantStatus, UserStatus
from backend.db.tenant_context import enter_tenant_as, enter_tenant_by_slug
from backend.domain.errors import InvalidGrantError, InvalidScopeError, InvalidTokenError
from backend.domain.scopes import Scope, format_scopes
from backend.security.passwords import PasswordService
from backend.security.tokens import AccessTokenCodec
from backend.services import roles, users

# One message for every credential failure, so it cannot tell which part was wrong.
BAD_CREDENTIALS = "invalid username or password"


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    expires_in: int
    scope: str


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an authenticated user of one tenant, with the token's scopes."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    scopes: frozenset[str]
    token_version: int


@dataclass(frozen=True, slots=True)
class PasswordLogin:
    tenant_slug: str
    email: str
    password: str
    requested_scopes: frozenset[Scope]


def password_grant(
    db: Session,
    passwords: PasswordService,
    codec: AccessTokenCodec,
    login: PasswordLogin,
    *,
    platform_tenant_slug: str,
) -> TokenGrant:
    """RFC 6749 §4.3: check the credentials and issue an access token.

    An unknown tenant, an unknown user and a wrong password are indistinguishable,
    in message and (through a dummy hash verification) in time.
    """
    tenant_id = enter_tenant_by_slug(db, login.tenant_slug)
    tenant = db.get(Tenant, tenant_id) if tenant_id is not None else None
    user = users.find_by_email(db, tenant.id, login.email) if tenant is not None else None
    password_ok = passwords.verify(login.password, user.password_hash if user else None)
    if tenant is None or user is None or not password_ok:
        raise InvalidGrantError(BAD_CREDENTIALS)
    if user.status is not UserStatus.ACTIVE:
        raise InvalidGrantError("this user account is disabled")
    if tenant.status is not TenantStatus.ACTIVE:
        raise InvalidGrantError("this tenant is suspended")

    held = roles.effective_scopes(
        db, tenant.id, user.id, platform=tenant.slug == platform_tenant_slug
    )
    granted = held & login.requested_scopes if login.requested_scopes else held
    if login.requested_scopes and not granted:
        raise InvalidScopeError("none of the requested scopes is granted to this user")

    user.last_login_at = datetime.now(UTC)
    user.failed_logins = 0
    db.flush()
    scope = format_scopes(granted)
    issued = codec.issue(
        user_id=user.id, tenant_id=tenant.id, scope=scope, token_version=user.token_version
    )
    return TokenGrant(access_token=issued.token, expires_in=issued.expires_in, scope=scope)


def authenticate_bearer(db: Session, codec: AccessTokenCodec, token: str) -> Principal:
    """Verify an access token and that its user may still use it; bind the tenant context.

    One statement binds the tenant and checks the user is active, the tenant is active
    and the token's version is current, so a disabled user is refused at once.
    """
    claims = codec.decode(token)
    state = enter_tenant_as(db, claims.tenant_id, claims.user_id)
    if state is None:
        raise InvalidTokenError("token is invalid")
    if state.user_status != UserStatus.ACTIVE:
        raise InvalidTokenError("user is disabled")
    if state.tenant_status != TenantStatus.ACTIVE:
        raise InvalidTokenError("tenant is suspended")
    if claims.token_version != state.token_version:
        raise InvalidTokenError("token has been revoked")
    return Principal(
        user_id=claims.user_id,
        tenant_id=claims.tenant_id,
        scopes=claims.scopes,
        token_version=claims.token_version,
    )
