"""Service accounts: machine clients of a tenant, and the client-credentials grant.

A service account's scopes come from its roles, like a user's. Its secret is shown
once at creation and stored only as a SHA-256 (it is 256 random bits: nothing to
brute-force). Its client_id names the tenant and the account, so the grant can bind
the tenant before it looks the account up under row-level security.
"""

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from backend.db.models import Role, ServiceAccount, ServiceAccountRole, Tenant
from backend.db.tenant_context import enter_tenant
from backend.domain.errors import (
    ConflictError,
    InvalidClientError,
    InvalidScopeError,
    NotFoundError,
)
from backend.domain.policy import require_within
from backend.domain.scopes import format_scopes
from backend.domain.standing import ACTIVE, may_act
from backend.domain.subjects import SubjectKind
from backend.security.opaque import new_secret
from backend.security.principal_cache import PrincipalCache
from backend.services import audiences, audit, authorization, concurrency, cutoff, roles
from backend.services.auth import Issuers, TokenGrant
from backend.services.effects import Effects
from backend.services.principals import Principal

SECRET_KIND = "cs"  # noqa: S105 (the prefix of client secrets, not a secret)
_CLIENT_ID = re.compile(r"sa_([0-9a-f]{32})_([0-9a-f]{32})")
BAD_CLIENT = "client authentication failed"


@dataclass(frozen=True, slots=True)
class AccountView:
    account: ServiceAccount
    client_id: str
    role_ids: list[uuid.UUID]


@dataclass(frozen=True, slots=True)
class CreatedAccount:
    view: AccountView
    client_secret: str


def client_id_of(account: ServiceAccount) -> str:
    return f"sa_{account.tenant_id.hex}_{account.id.hex}"


def create(
    db: Session,
    actor: Principal,
    *,
    name: str,
    description: str,
    role_ids: list[uuid.UUID],
) -> CreatedAccount:
    """Create a service account with roles whose scopes the actor holds themselves.

    A name taken by a concurrent creation is 409, as a name taken before is.
    """
    # The roles cannot be deleted or changed until this account holds them.
    roles.lock_role_graph(db, actor.tenant_id, shared=True)
    _require_grantable(db, actor, role_ids)
    taken = f"a service account named {name!r} already exists"
    if db.scalar(
        select(ServiceAccount.id).where(
            ServiceAccount.tenant_id == actor.tenant_id, ServiceAccount.name == name
        )
    ):
        raise ConflictError(taken)
    secret = new_secret(SECRET_KIND, actor.tenant_id)
    account = ServiceAccount(
        tenant_id=actor.tenant_id,
        id=uuid.uuid4(),
        name=name,
        description=description,
        secret_hash=secret.digest,
        secret_prefix=secret.prefix,
        created_by=actor.user_id,
    )
    with concurrency.unique(db, "uq_service_accounts_tenant_id_name", taken):
        db.add(account)
    db.add_all(
        ServiceAccountRole(tenant_id=actor.tenant_id, service_account_id=account.id, role_id=r)
        for r in set(role_ids)
    )
    db.flush()
    data = {"name": name, "role_ids": sorted(str(r) for r in role_ids)}
    audit.record_by(db, actor, "service_account.created", f"service_account:{account.id}", data)
    return CreatedAccount(view=_view(db, account), client_secret=secret.value)


def list_accounts(db: Session, tenant_id: uuid.UUID) -> list[AccountView]:
    accounts = db.scalars(
        select(ServiceAccount)
        .where(ServiceAccount.tenant_id == tenant_id)
        .order_by(ServiceAccount.name)
    )
    return [_view(db, account) for account in accounts]


def get(db: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> AccountView:
    return _view(db, _get(db, tenant_id, account_id))


def revoke(db: Session, effects: Effects, actor: Principal, account_id: uuid.UUID) -> None:
    """Revoke a service account: its secret and every token it holds stop working.
    Revoking a revoked account changes nothing."""
    account = _get(db, actor.tenant_id, account_id)
    # Conditional: of concurrent revocations one changes the row and audits; the others,
    # like a repeat, change nothing.
    revoked = concurrency.changed(
        db,
        update(ServiceAccount)
        .where(
            ServiceAccount.tenant_id == actor.tenant_id,
            ServiceAccount.id == account.id,
            ServiceAccount.revoked_at.is_(None),
        )
        .values(revoked_at=datetime.now(UTC)),
    )
    if revoked is None:
        return
    db.execute(
        delete(ServiceAccountRole).where(
            ServiceAccountRole.tenant_id == actor.tenant_id,
            ServiceAccountRole.service_account_id == account.id,
        )
    )
    cutoff.service_accounts(
        db, effects, actor.tenant_id, [account.id], reason=cutoff.Reason.SERVICE_ACCOUNT_REVOKED
    )
    audit.record_by(db, actor, "service_account.revoked", f"service_account:{account.id}")


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A service account that proved its secret, with its tenant bound."""

    account: ServiceAccount
    # Whether its tenant is the platform tenant.
    platform: bool


def authenticate(
    db: Session, client_id: str, client_secret: str, platform_tenant_slug: str
) -> Authenticated:
    """Check a service account's HTTP Basic credentials and bind its tenant.

    An unknown, malformed or revoked account and a wrong secret are the same
    InvalidClientError; so is an account of a suspended tenant (with its own message).
    """
    match = _CLIENT_ID.fullmatch(client_id)
    if match is None:
        raise InvalidClientError(BAD_CLIENT)
    tenant_id, account_id = uuid.UUID(hex=match.group(1)), uuid.UUID(hex=match.group(2))
    enter_tenant(db, tenant_id)
    # The account with its tenant's standing, in one statement (a grant's hot path).
    found = db.execute(
        select(ServiceAccount, Tenant.status, Tenant.slug)
        .join(Tenant, Tenant.id == ServiceAccount.tenant_id)
        .where(ServiceAccount.tenant_id == tenant_id, ServiceAccount.id == account_id)
    ).first()
    account = found[0] if found is not None else None
    presented = hashlib.sha256(client_secret.encode()).digest()
    expected = account.secret_hash if account is not None else bytes(32)
    # Constant time, and compared even for an unknown account.
    secret_ok = hmac.compare_digest(presented, expected)
    if found is None or account is None or not secret_ok or account.revoked_at is not None:
        raise InvalidClientError(BAD_CLIENT)
    _, tenant_status, tenant_slug = found
    # A revoked account is BAD_CLIENT above, like any failure to authenticate.
    refusal = may_act(ACTIVE, tenant_status)
    if refusal is not None:
        raise InvalidClientError(refusal.message)
    return Authenticated(account=account, platform=tenant_slug == platform_tenant_slug)


def held_scopes(db: Session, cache: PrincipalCache, found: Authenticated) -> frozenset[str]:
    """The scopes an authenticated account's roles give it, remembered by the process.

    Kept by the token version `authenticate` just read (see security.principal_cache:
    whatever takes a scope away bumps it, so a loss is a miss at once, in every process),
    and dropped with the tenant's entries on whatever changes roles (a gain).
    """
    account = found.account
    key = (account.id, account.token_version, found.platform)
    held = cache.account_scopes(account.tenant_id, key)
    if held is None:
        # Read before the roles are: a change committed meanwhile drops what we keep.
        since = cache.generation
        held = roles.service_account_scopes(
            db, account.tenant_id, account.id, platform=found.platform
        )
        cache.keep_account_scopes(account.tenant_id, key, held, since=since)
    return held


def client_credentials_grant(
    db: Session,
    issuers: Issuers,
    cache: PrincipalCache,
    client_id: str,
    client_secret: str,
    requested: frozenset[str],
    audience: audiences.Audience | None = None,
) -> TokenGrant:
    """RFC 6749 §4.4: authenticate the client and issue an access token (no refresh) for
    `audience` (services/audiences.py; None: Tessera's own API).

    Any failure to authenticate is the same `invalid_client`.
    """
    found = authenticate(db, client_id, client_secret, issuers.platform_tenant_slug)
    account, tenant_id = found.account, found.account.tenant_id
    held = held_scopes(db, cache, found)
    audience = audience or audiences.own(issuers.codec.audience)
    granted = audience.grant(requested, held)
    if requested and not granted:
        raise InvalidScopeError("none of the requested scopes is granted to this client")
    scope = format_scopes(granted)
    issued = issuers.codec.issue(
        user_id=account.id,
        tenant_id=tenant_id,
        scope=scope,
        token_version=account.token_version,
        subject_kind=SubjectKind.SERVICE_ACCOUNT,
        audience=audience.identifier,
    )
    return TokenGrant(access_token=issued.token, expires_in=issued.expires_in, scope=scope)


def _require_grantable(db: Session, actor: Principal, role_ids: list[uuid.UUID]) -> None:
    known = set(
        db.scalars(select(Role.id).where(Role.tenant_id == actor.tenant_id, Role.id.in_(role_ids)))
    )
    if known != set(role_ids):
        raise NotFoundError("role")
    wanted = roles.load_role_graph(db, actor.tenant_id).expand(role_ids)
    require_within(authorization.acting_scopes(db, actor), wanted)


def _get(db: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> ServiceAccount:
    account = db.get(ServiceAccount, (tenant_id, account_id))
    if account is None:
        raise NotFoundError("service account")
    return account


def _view(db: Session, account: ServiceAccount) -> AccountView:
    role_ids = list(
        db.scalars(
            select(ServiceAccountRole.role_id).where(
                ServiceAccountRole.tenant_id == account.tenant_id,
                ServiceAccountRole.service_account_id == account.id,
            )
        )
    )
    return AccountView(account=account, client_id=client_id_of(account), role_ids=role_ids)
