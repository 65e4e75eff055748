"""Principals: turning a presented credential into who is calling, or refusing it."""

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from backend.db.tenant_context import (
    enter_tenant_as,
    enter_tenant_as_service_account,
    enter_tenant_on_first_query,
)
from backend.domain.errors import InvalidTokenError, NotFoundError
from backend.domain.standing import CallerStanding
from backend.security.caller_cache import CallerCache
from backend.security.tokens import USER, AccessClaims
from backend.services import roles


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, in which tenant, with which scopes.

    A user (through an access token or one of their API keys) or a service account.
    """

    kind: str
    subject_id: uuid.UUID
    tenant_id: uuid.UUID
    scopes: frozenset[str]
    # Whether the tenant is the platform tenant (TESSERA_PLATFORM_TENANT_SLUG), the only
    # one where platform scopes count: decided once, by the guard, from the standing.
    platform: bool
    api_key_id: uuid.UUID | None = None

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.subject_id if self.kind == USER else None

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        if self.api_key_id is not None:
            return f"api_key:{self.api_key_id}"
        return f"{self.kind}:{self.subject_id}"

    def require_user(self) -> uuid.UUID:
        """The caller's user id; a service account has no user profile (404)."""
        if self.user_id is None:
            raise NotFoundError("user profile")
        return self.user_id


def remembered_principal(
    db: Session, cache: CallerCache, claims: AccessClaims, *, platform_tenant_slug: str
) -> Principal | None:
    """The hot path: check verified claims against the standing this process remembers.

    No I/O: the tenant is bound on the request's first query, if it makes one. None when
    the caller's standing is not in the cache; then ask authenticated_principal.
    """
    standing = cache.standing(claims.tenant_id, claims.user_id)
    if standing is None:
        return None
    enter_tenant_on_first_query(db, claims.tenant_id)
    return _admit(claims, standing, platform_tenant_slug)


def authenticated_principal(
    db: Session, cache: CallerCache, claims: AccessClaims, *, platform_tenant_slug: str
) -> Principal:
    """Check that the user of verified claims may still use them, and bind the tenant.

    The caller's standing comes from one PostgreSQL statement that also binds the
    tenant, and is remembered for the next request. A disabled user, a suspended tenant
    or a bumped token version is refused at once.
    """
    since = cache.generation
    enter = enter_tenant_as if claims.subject_kind == USER else enter_tenant_as_service_account
    standing = enter(db, claims.tenant_id, claims.user_id)
    if standing is None:
        raise InvalidTokenError("token is invalid")
    cache.keep_standing(claims.tenant_id, claims.user_id, standing, since=since)
    return _admit(claims, standing, platform_tenant_slug)


def _admit(claims: AccessClaims, standing: CallerStanding, platform_tenant_slug: str) -> Principal:
    refusal = standing.refusal(claims.token_version)
    if refusal is not None:
        raise InvalidTokenError(refusal)
    return Principal(
        kind=claims.subject_kind,
        subject_id=claims.user_id,
        tenant_id=claims.tenant_id,
        scopes=claims.scopes,
        platform=standing.tenant_slug == platform_tenant_slug,
    )


def acting_scopes(db: Session, principal: Principal) -> frozenset[str]:
    """What the caller may hand out: its credential's scopes, cut to what its roles give now.

    A token narrowed at login cannot be used to grant more than it carries, and a role
    removed since the token was issued grants nothing.
    """
    tenant_id, subject_id, platform = principal.tenant_id, principal.subject_id, principal.platform
    if principal.kind == USER:
        held = roles.effective_scopes(db, tenant_id, subject_id, platform=platform)
    else:
        held = roles.service_account_scopes(db, tenant_id, subject_id, platform=platform)
    return principal.scopes & held
