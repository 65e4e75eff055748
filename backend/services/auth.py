"""Authentication: the password grant, and turning a bearer token into a principal."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Tenant, TenantStatus, User, UserStatus
from backend.db.session import set_tenant
from backend.domain.errors import InvalidGrantError, InvalidScopeError, InvalidTokenError
from backend.domain.scopes import Scope, format_scopes
from backend.security.passwords import PasswordService
from backend.security.tokens import AccessTokenCodec
from backend.services import roles, tenants, users

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
    tenant = tenants.get_by_slug(db, login.tenant_slug)
    user = None
    if tenant is not None:
        set_tenant(db, tenant.id)
        user = users.find_by_email(db, tenant.id, login.email)
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

    One query checks the user is active, the tenant is active and the token's version
    is current, so a disabled user or a bumped version is refused at once.
    """
    claims = codec.decode(token)
    set_tenant(db, claims.tenant_id)
    row = db.execute(
        select(User.status, User.token_version, Tenant.status)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(User.tenant_id == claims.tenant_id, User.id == claims.user_id)
    ).one_or_none()
    if row is None:
        raise InvalidTokenError("token is invalid")
    user_status, token_version, tenant_status = row
    if user_status is not UserStatus.ACTIVE:
        raise InvalidTokenError("user is disabled")
    if tenant_status is not TenantStatus.ACTIVE:
        raise InvalidTokenError("tenant is suspended")
    if claims.token_version != token_version:
        raise InvalidTokenError("token has been revoked")
    return Principal(
        user_id=claims.user_id,
        tenant_id=claims.tenant_id,
        scopes=claims.scopes,
        token_version=claims.token_version,
    )
