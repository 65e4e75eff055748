"""Scoped API keys: a user's long-lived credential for scripts, with its own scopes.

A key acts as the user who created it, with at most the scopes it was given, which
must be among the creator's own; at each use they are also cut to what the creator's
roles give now. Sent as `X-API-Key`, the key is looked up by its SHA-256 under
row-level security (its tenant is written in it); the plaintext is shown once.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.db.models import ApiKey, Tenant, User
from backend.domain.errors import InvalidRequestError, InvalidTokenError, NotFoundError
from backend.domain.moments import require_expiry
from backend.domain.policy import require_within
from backend.domain.scopes import Scope, format_scopes
from backend.domain.standing import may_act
from backend.domain.subjects import SubjectKind
from backend.security.opaque import new_secret
from backend.services import audit, authorization, concurrency, presented_secrets, roles
from backend.services.principals import Principal

KIND = "ak"
# Writing last_used_at on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    plaintext: str


def create(
    db: Session,
    actor: Principal,
    *,
    name: str,
    scopes: frozenset[Scope],
    expires_at: datetime | None,
) -> CreatedKey:
    """Create a key for the calling user with scopes they hold themselves."""
    creator = actor.require_user()
    if not scopes:
        raise InvalidRequestError("an API key needs at least one scope")
    if expires_at is not None:
        require_expiry(expires_at, datetime.now(UTC))
    require_within(authorization.acting_scopes(db, actor), scopes)
    secret = new_secret(KIND, actor.tenant_id)
    key = ApiKey(
        tenant_id=actor.tenant_id,
        id=uuid.uuid4(),
        name=name,
        key_hash=secret.digest,
        prefix=secret.prefix,
        scope=format_scopes(scopes),
        created_by=creator,
        expires_at=expires_at,
    )
    db.add(key)
    db.flush()
    data = {"name": name, "scope": key.scope, "prefix": key.prefix}
    audit.record_by(db, actor, "api_key.created", f"api_key:{key.id}", data)
    return CreatedKey(key=key, plaintext=secret.value)


def list_keys(db: Session, tenant_id: uuid.UUID) -> list[ApiKey]:
    return list(
        db.scalars(
            select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at.desc())
        )
    )


def revoke(db: Session, actor: Principal, key_id: uuid.UUID) -> None:
    """Revoke a key; revoking a revoked key changes nothing.

    Conditional: of concurrent revocations one changes the row and audits; the others,
    like a repeat, change nothing.
    """
    key = db.get(ApiKey, (actor.tenant_id, key_id))
    if key is None:
        raise NotFoundError("API key")
    revoked = concurrency.changed(
        db,
        update(ApiKey)
        .where(
            ApiKey.tenant_id == actor.tenant_id, ApiKey.id == key.id, ApiKey.revoked_at.is_(None)
        )
        .values(revoked_at=datetime.now(UTC)),
    )
    if revoked is not None:
        audit.record_by(db, actor, "api_key.revoked", f"api_key:{key.id}")


def authenticate(db: Session, presented: str, *, platform_tenant_slug: str) -> Principal:
    """The principal behind an `X-API-Key`, or InvalidTokenError saying why not."""
    secret = presented_secrets.bind(db, KIND, presented)
    if secret is None:
        raise InvalidTokenError("API key is invalid")
    row = db.execute(
        select(ApiKey, User.status, Tenant.status, Tenant.slug)
        .join(User, (User.tenant_id == ApiKey.tenant_id) & (User.id == ApiKey.created_by))
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .where(ApiKey.tenant_id == secret.tenant_id, ApiKey.key_hash == secret.digest)
    ).one_or_none()
    if row is None:
        raise InvalidTokenError("API key is invalid")
    key, user_status, tenant_status, slug = row
    now = datetime.now(UTC)
    if key.revoked_at is not None:
        raise InvalidTokenError("API key has been revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise InvalidTokenError("API key expired")
    refusal = may_act(user_status, tenant_status)
    if refusal is not None:
        raise InvalidTokenError(refusal.message)
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        key.last_used_at = now
        db.flush()
    platform = slug == platform_tenant_slug
    held = roles.effective_scopes(db, key.tenant_id, key.created_by, platform=platform)
    return Principal(
        kind=SubjectKind.USER,
        subject_id=key.created_by,
        tenant_id=key.tenant_id,
        scopes=frozenset(key.scope.split()) & held,
        platform=platform,
        api_key_id=key.id,
    )
