"""The guard's checks: turning verified token claims into a principal, or refusing them.

Every guarded request comes here (from api/deps.py) with claims whose signature and
expiry are checked already. The subject's standing decides: from this process's principal
cache when it remembers them (no I/O), else from one PostgreSQL statement that also binds
the tenant. A disabled user, a suspended tenant or an old token version is refused at
once. The guard is also where `Principal.platform` is decided, once per request.
"""

from sqlalchemy.orm import Session

from backend.db.tenant_context import (
    enter_tenant_as,
    enter_tenant_as_service_account,
    enter_tenant_on_first_query,
)
from backend.domain.errors import InvalidTokenError
from backend.domain.standing import SubjectStanding
from backend.domain.subjects import SubjectKind
from backend.security.principal_cache import PrincipalCache
from backend.security.tokens import AccessClaims
from backend.services.principals import Principal


def remembered_principal(
    db: Session, cache: PrincipalCache, claims: AccessClaims, *, platform_tenant_slug: str
) -> Principal | None:
    """The hot path: check verified claims against the standing this process remembers.

    No I/O: the tenant is bound on the request's first query, if it makes one. None when
    the subject's standing is not in the cache; then ask authenticated_principal.
    """
    standing = cache.standing(claims.tenant_id, claims.user_id)
    if standing is None:
        return None
    enter_tenant_on_first_query(db, claims.tenant_id)
    return _admit(claims, standing, platform_tenant_slug)


def authenticated_principal(
    db: Session, cache: PrincipalCache, claims: AccessClaims, *, platform_tenant_slug: str
) -> Principal:
    """Check that the user of verified claims may still use them, and bind the tenant.

    The subject's standing comes from one PostgreSQL statement that also binds the
    tenant, and is remembered for the next request. A disabled user, a suspended tenant
    or a bumped token version is refused at once.
    """
    since = cache.generation
    enter = (
        enter_tenant_as
        if claims.subject_kind == SubjectKind.USER
        else enter_tenant_as_service_account
    )
    standing = enter(db, claims.tenant_id, claims.user_id)
    if standing is None:
        raise InvalidTokenError("token is invalid")
    cache.keep_standing(claims.tenant_id, claims.user_id, standing, since=since)
    return _admit(claims, standing, platform_tenant_slug)


def _admit(claims: AccessClaims, standing: SubjectStanding, platform_tenant_slug: str) -> Principal:
    refusal = standing.refusal(claims.token_version)
    if refusal is not None:
        raise InvalidTokenError(refusal.message)
    return Principal(
        kind=claims.subject_kind,
        subject_id=claims.user_id,
        tenant_id=claims.tenant_id,
        scopes=claims.scopes,
        platform=standing.tenant_slug == platform_tenant_slug,
        amr=claims.amr,
    )
