"""Token introspection (RFC 7662): whether a token is valid now, and what it says.

For resource servers that cannot (or would rather not) verify tokens themselves. An
access token is checked by the guard's own code: the codec verifies the signature,
expiry, issuer and type (its audience may be any registered API), and
services/guard.py checks the subject's standing (disabled, suspended, token version)
exactly as for a request to Tessera. A refresh token is active while it is its
session's live token: not used, revoked or expired, in a session neither ended nor
expired, of a user who may act. Anything else is inactive, with nothing said about why.

The caller is a service account holding `tokens:introspect`. It sees only its own
tenant's tokens, unless it is of the platform tenant (a product service runs as one);
any other tenant's token is inactive to it, as an unknown one is.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Api, LoginSession, RefreshToken
from backend.db.tenant_context import enter_tenant_as
from backend.domain.errors import ForbiddenError, InvalidTokenError
from backend.domain.scopes import Scope
from backend.domain.subjects import SubjectKind
from backend.security.opaque import parse_secret
from backend.security.principal_cache import PrincipalCache
from backend.security.tokens import AccessTokenCodec
from backend.services import guard, presented_secrets, service_accounts, sessions

INACTIVE: dict[str, Any] = {"active": False}
# RFC 7662 §2.2 token_type: an access token's is its RFC 6749 §7.1 type.
BEARER = "bearer"
REFRESH = "refresh_token"


@dataclass(frozen=True, slots=True)
class Introspector:
    """What introspection needs of the process: its keys, principal cache and settings."""

    codec: AccessTokenCodec
    cache: PrincipalCache
    platform_tenant_slug: str


@dataclass(frozen=True, slots=True)
class Caller:
    tenant_id: uuid.UUID
    platform: bool

    def may_see(self, tenant_id: uuid.UUID) -> bool:
        return self.platform or tenant_id == self.tenant_id


def authenticate(
    db: Session, introspector: Introspector, client_id: str, client_secret: str
) -> Caller:
    """The service account calling, by HTTP Basic (InvalidClientError, 401, otherwise);
    ForbiddenError (403) unless its roles give it `tokens:introspect`."""
    found = service_accounts.authenticate(
        db, client_id, client_secret, introspector.platform_tenant_slug
    )
    if Scope.TOKENS_INTROSPECT not in service_accounts.held_scopes(db, introspector.cache, found):
        raise ForbiddenError([Scope.TOKENS_INTROSPECT])
    return Caller(tenant_id=found.account.tenant_id, platform=found.platform)


def introspect(
    db: Session, introspector: Introspector, caller: Caller, token: str
) -> dict[str, Any]:
    """RFC 7662 §2.2: `{"active": false}`, or `active: true` with the token's claims.

    A refresh token is known by its `rt_` form, whatever the hint says (RFC 7662 lets
    the server look beyond it); anything else is read as an access token.
    """
    if parse_secret(sessions.KIND, token) is not None:
        return _refresh_token(db, introspector, caller, token)
    return _access_token(db, introspector, caller, token)


def _access_token(
    db: Session, introspector: Introspector, caller: Caller, token: str
) -> dict[str, Any]:
    try:
        claims = introspector.codec.decode(token, any_audience=True)
    except InvalidTokenError:
        return INACTIVE
    # Fetch, then authorise: another tenant's token is as unknown as a forged one.
    if not caller.may_see(claims.tenant_id):
        return INACTIVE
    own = introspector.codec.audience
    if claims.audience != own and not _registered_api(db, claims.audience):
        return INACTIVE
    try:
        # The guard's own standing check (disabled, suspended, token version).
        principal = guard.remembered_principal(
            db, introspector.cache, claims, platform_tenant_slug=introspector.platform_tenant_slug
        ) or guard.authenticated_principal(
            db, introspector.cache, claims, platform_tenant_slug=introspector.platform_tenant_slug
        )
    except InvalidTokenError:
        return INACTIVE
    return {
        "active": True,
        "scope": " ".join(sorted(principal.scopes)),
        "sub": str(claims.user_id),
        "tid": str(claims.tenant_id),
        "aud": claims.audience,
        "iss": introspector.codec.issuer,
        "exp": claims.expires_at,
        "iat": claims.issued_at,
        "jti": claims.jti,
        "token_type": BEARER,
        "kind": claims.subject_kind.value,
    }


def _refresh_token(
    db: Session, introspector: Introspector, caller: Caller, token: str
) -> dict[str, Any]:
    secret = presented_secrets.bind(db, sessions.KIND, token)
    if secret is None or not caller.may_see(secret.tenant_id):
        return INACTIVE
    found = db.execute(
        select(RefreshToken, LoginSession)
        .join(
            LoginSession,
            (LoginSession.tenant_id == RefreshToken.tenant_id)
            & (LoginSession.id == RefreshToken.family_id),
        )
        .where(RefreshToken.tenant_id == secret.tenant_id, RefreshToken.token_hash == secret.digest)
    ).one_or_none()
    now = datetime.now(UTC)
    if found is None:
        return INACTIVE
    refresh, session = found
    live = (
        refresh.used_at is None
        and refresh.revoked_at is None
        and refresh.expires_at > now
        and session.revoked_at is None
        and session.expires_at > now
    )
    if not live:
        return INACTIVE
    # The same standing as a refresh asks of the user (a version bump does not end a
    # session: its next refresh picks up the new scopes).
    standing = enter_tenant_as(db, refresh.tenant_id, refresh.user_id)
    if standing is None or standing.refusal(standing.token_version) is not None:
        return INACTIVE
    return {
        "active": True,
        "scope": refresh.scope,
        "sub": str(refresh.user_id),
        "tid": str(refresh.tenant_id),
        "aud": session.resource or introspector.codec.audience,
        "iss": introspector.codec.issuer,
        "exp": int(refresh.expires_at.timestamp()),
        "iat": int(refresh.issued_at.timestamp()),
        "jti": refresh.id.hex,
        "token_type": REFRESH,
        "kind": SubjectKind.USER.value,
    }


def _registered_api(db: Session, identifier: str) -> bool:
    """Whether a product API has this identifier (a token for a removed API is inactive)."""
    return db.scalar(select(Api.id).where(Api.identifier == identifier)) is not None
