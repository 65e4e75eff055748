"""What `make run` sets up for the example product service (examples/projects): the
platform tenant with an operator (so `tessera apis apply` can register its API), the
platform service account whose credentials let the example follow the standings feed
(`tessera ensure-projects-demo`), and the demo tenant's `editor` role carrying the
registered API's scopes (`tessera ensure-demo-tenant --editor-of IDENTIFIER`).
Development only.
"""

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import (
    Api,
    ApiScope,
    Grant,
    Role,
    RoleScope,
    ServiceAccount,
    ServiceAccountRole,
)
from backend.db.tenant_context import enter_tenant
from backend.domain.scopes import Scope
from backend.security.opaque import new_secret
from backend.security.passwords import PasswordService
from backend.services import audit, cutoff, platform_admins, roles, tenants, users
from backend.services.effects import Effects
from backend.services.service_accounts import SECRET_KIND, client_id_of

DEMO_OPERATOR_EMAIL = "operator@demo.test"
FEED_ROLE = "standings-reader"
FEED_ACCOUNT = "projects-feed"
EDITOR_ROLE = "editor"


@dataclass(frozen=True, slots=True)
class FeedCredentials:
    client_id: str
    client_secret: str
    # The platform operator's password when this run made them; None if they existed.
    operator_password: str | None


def ensure_feed_account(
    db: Session, effects: Effects, passwords: PasswordService, *, platform_slug: str
) -> FeedCredentials:
    """The platform tenant (with an operator, made if missing) and its `projects-feed`
    service account holding standings:read, with a new secret on every call: nowhere
    keeps the last one, and the tokens it obtained end with it."""
    operator_password = None
    platform = tenants.enter_by_slug(db, platform_slug)
    if platform is None:
        operator_password = secrets.token_urlsafe(12)
        created = platform_admins.create_platform_admin(
            db,
            effects,
            passwords,
            platform_tenant_slug=platform_slug,
            email=DEMO_OPERATOR_EMAIL,
            password=operator_password,
        )
        tenant_id = created.tenant_id
        enter_tenant(db, tenant_id)
    else:
        tenant_id = platform.id
    role_id = _feed_role(db, tenant_id)
    secret = new_secret(SECRET_KIND, tenant_id)
    account = db.scalar(
        select(ServiceAccount).where(
            ServiceAccount.tenant_id == tenant_id, ServiceAccount.name == FEED_ACCOUNT
        )
    )
    if account is None:
        account = ServiceAccount(
            tenant_id=tenant_id,
            id=uuid.uuid4(),
            name=FEED_ACCOUNT,
            description="examples/projects follows the standings feed (make run)",
            secret_hash=secret.digest,
            secret_prefix=secret.prefix,
        )
        db.add(account)
        db.flush()
        db.add(
            ServiceAccountRole(tenant_id=tenant_id, service_account_id=account.id, role_id=role_id)
        )
        action = "service_account.created"
    else:
        account.secret_hash, account.secret_prefix = secret.digest, secret.prefix
        account.revoked_at = None
        db.flush()
        # The old secret is revoked: so are the tokens it obtained.
        cutoff.service_accounts(
            db, effects, tenant_id, [account.id], reason=cutoff.Reason.SERVICE_ACCOUNT_REVOKED
        )
        action = "service_account.secret_rotated"
    audit.record(
        db,
        tenant_id=tenant_id,
        actor=audit.SYSTEM,
        action=action,
        target=f"service_account:{account.id}",
        data={"name": FEED_ACCOUNT, "by": "make run"},
    )
    return FeedCredentials(client_id_of(account), secret.value, operator_password)


def _feed_role(db: Session, tenant_id: uuid.UUID) -> uuid.UUID:
    """The platform role carrying standings:read (the feed) and tokens:introspect (the
    kit's fallback while the feed is lost), made if missing."""
    role_id, _ = _role(db, tenant_id, FEED_ROLE, "Resource servers following the standings feed")
    _add_scopes(db, tenant_id, role_id, [Scope.STANDINGS_READ, Scope.TOKENS_INTROSPECT])
    return role_id


def _role(db: Session, tenant_id: uuid.UUID, name: str, description: str) -> tuple[uuid.UUID, bool]:
    """The tenant's role `name` (the role graph locked), and whether it was made now."""
    roles.lock_role_graph(db, tenant_id)
    role_id = db.scalar(select(Role.id).where(Role.tenant_id == tenant_id, Role.name == name))
    if role_id is not None:
        return role_id, False
    role_id = uuid.uuid4()
    db.add(Role(tenant_id=tenant_id, id=role_id, name=name, description=description))
    db.flush()
    return role_id, True


def _add_scopes(
    db: Session, tenant_id: uuid.UUID, role_id: uuid.UUID, scopes: list[str]
) -> list[str]:
    """Give the role those of `scopes` it lacks; the ones added."""
    held = set(
        db.scalars(
            select(RoleScope.scope).where(
                RoleScope.tenant_id == tenant_id, RoleScope.role_id == role_id
            )
        )
    )
    added = [scope for scope in scopes if scope not in held]
    db.add_all(RoleScope(tenant_id=tenant_id, role_id=role_id, scope=scope) for scope in added)
    db.flush()
    return added


def ensure_editor_role(
    db: Session, effects: Effects, tenant_id: uuid.UUID, owner_id: uuid.UUID, api: str
) -> list[str]:
    """The tenant's `editor` role, made if missing, carrying every scope of the registered
    API `api` (added to it if the API gained some), granted to the owner; the scopes.
    Nothing if no such API is registered. Scopes are only added: nobody is cut off."""
    scopes = list(
        db.scalars(
            select(ApiScope.name)
            .join(Api, ApiScope.api_id == Api.id)
            .where(Api.identifier == api)
            .order_by(ApiScope.name)
        )
    )
    if not scopes:
        return []
    description = f"Works with {api} (the example product service)"
    role_id, created = _role(db, tenant_id, EDITOR_ROLE, description)
    added = _add_scopes(db, tenant_id, role_id, scopes)
    granted = db.scalar(
        select(Grant.role_id).where(
            Grant.tenant_id == tenant_id, Grant.user_id == owner_id, Grant.role_id == role_id
        )
    )
    if granted is None:
        users.grant_role(db, tenant_id=tenant_id, user_id=owner_id, role_id=role_id)
    db.flush()
    if created or added or granted is None:
        audit.record(
            db,
            tenant_id=tenant_id,
            actor=audit.SYSTEM,
            action="role.created" if created else "role.updated",
            target=f"role:{role_id}",
            data={"name": EDITOR_ROLE, "scopes_added": added, "granted_to": str(owner_id)},
        )
        # The owner's scopes grew: their GET /me shows it.
        cutoff.profiles(db, effects, tenant_id)
    return scopes
