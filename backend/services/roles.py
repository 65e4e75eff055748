"""Roles of a tenant: seeding the built-ins, reading roles, and expanding a user's
grants into scopes (and explaining them). Changes live in role_admin and grants."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from backend.db.models import ApiScope, Grant, Role, RoleInclude, RoleScope, ServiceAccountRole
from backend.domain.errors import NotFoundError
from backend.domain.roles import BUILTIN_ROLES, RoleGraph, RoleNode
from backend.domain.scopes import PLATFORM_SCOPES, Scope, effective_in
from backend.services import concurrency, subjects

# A tenant's roles are a short list an admin reads whole; the cap keeps it one.
MAX_ROLES_PER_TENANT = 500


def seed_builtin_roles(db: Session, tenant_id: uuid.UUID) -> dict[str, Role]:
    """Create owner, admin, member and auditor in a new tenant; return them by name."""
    roles: dict[str, Role] = {}
    for builtin in BUILTIN_ROLES:
        role = Role(
            tenant_id=tenant_id,
            id=uuid.uuid4(),
            name=builtin.name,
            description=builtin.description,
            builtin=True,
        )
        db.add(role)
        roles[builtin.name] = role
    db.flush()
    db.add_all(
        RoleScope(tenant_id=tenant_id, role_id=roles[b.name].id, scope=scope)
        for b in BUILTIN_ROLES
        for scope in sorted(b.scopes)
    )
    db.flush()
    return roles


def lock_role_graph(db: Session, tenant_id: uuid.UUID, *, shared: bool = False) -> None:
    """Hold one tenant's role graph still until the transaction ends.

    Exclusive for what changes the graph (creating, editing, deleting a role), shared
    for what relies on it not changing underneath (granting a role, giving one to a
    service account). Without it, two edits that each pass the cycle check alone
    (a includes b, b includes a) would together commit a cycle; a deletion would miss
    the holders of a grant made meanwhile (and leave their tokens their scopes), or a
    grant of the role being deleted would fail on its foreign key. Take it before
    reading the graph, and before the last-owner check.
    """
    concurrency.advisory_lock(db, "tessera.role_graph", tenant_id, shared=shared)


def load_role_graph(db: Session, tenant_id: uuid.UUID) -> RoleGraph[uuid.UUID]:
    """The whole role graph of one tenant, in three queries.

    A role's scopes are those still registered (the rule of subjects.registered): the
    catalogue's and every API's.
    """
    names = {
        role_id: name
        for role_id, name in db.execute(
            select(Role.id, Role.name).where(Role.tenant_id == tenant_id)
        )
    }
    scopes: dict[uuid.UUID, set[str]] = {role_id: set() for role_id in names}
    for role_id, scope in db.execute(
        select(RoleScope.role_id, RoleScope.scope).where(
            RoleScope.tenant_id == tenant_id,
            RoleScope.scope.in_(list(Scope))
            | select(ApiScope.name).where(ApiScope.name == RoleScope.scope).exists(),
        )
    ):
        scopes[role_id].add(scope)
    includes: dict[uuid.UUID, set[uuid.UUID]] = {role_id: set() for role_id in names}
    for role_id, included in db.execute(
        select(RoleInclude.role_id, RoleInclude.included_role_id).where(
            RoleInclude.tenant_id == tenant_id
        )
    ):
        includes[role_id].add(included)
    return RoleGraph(
        RoleNode(key=k, name=names[k], scopes=frozenset(scopes[k]), includes=frozenset(includes[k]))
        for k in names
    )


def active_role_ids(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime | None = None
) -> list[uuid.UUID]:
    """The roles granted directly to a user whose grant has not expired."""
    moment = now or datetime.now(UTC)
    return list(
        db.scalars(
            select(Grant.role_id).where(
                Grant.tenant_id == tenant_id,
                Grant.user_id == user_id,
                or_(Grant.expires_at.is_(None), Grant.expires_at > moment),
            )
        )
    )


def effective_scopes(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, *, platform: bool
) -> frozenset[str]:
    """A user's scopes: the union over the closure of their unexpired roles.

    One query: the SQL function walks role inclusion itself (the same expansion as
    RoleGraph.expand). Outside the platform tenant, platform scopes are never effective,
    whatever a role says. Product scopes are included: no access token for Tessera's own
    API carries them, but a user may hand out those they hold (services/authorization.py).
    """
    raw = db.scalar(
        _USER_SCOPES, {"tenant_id": tenant_id, "user_id": user_id, "now": datetime.now(UTC)}
    )
    return effective_in(frozenset(raw or ()), platform=platform)


_USER_SCOPES = text(
    f"SELECT {subjects.registered('tessera_user_scopes(:tenant_id, :user_id, :now)')}"
)


def service_account_scopes(
    db: Session, tenant_id: uuid.UUID, account_id: uuid.UUID, *, platform: bool
) -> frozenset[str]:
    """A service account's scopes: the union over the closure of its roles."""
    role_ids = db.scalars(
        select(ServiceAccountRole.role_id).where(
            ServiceAccountRole.tenant_id == tenant_id,
            ServiceAccountRole.service_account_id == account_id,
        )
    )
    return effective_in(load_role_graph(db, tenant_id).expand(role_ids), platform=platform)


@dataclass(frozen=True, slots=True)
class Holding:
    """What a user holds now: directly granted roles, effective scopes and their chains."""

    roles: list[str]
    scopes: frozenset[str]
    explained: list["ScopeExplanation"]
    # When the first of the unexpired grants runs out (and the holding changes), if ever.
    changes_at: datetime | None


def holding(db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, *, platform: bool) -> Holding:
    """A user's roles, scopes and chains from one read of the graph and of the grants."""
    now = datetime.now(UTC)
    grants = db.execute(
        select(Grant.role_id, Grant.expires_at).where(
            Grant.tenant_id == tenant_id,
            Grant.user_id == user_id,
            or_(Grant.expires_at.is_(None), Grant.expires_at > now),
        )
    ).all()
    role_ids = [role_id for role_id, _ in grants]
    graph = load_role_graph(db, tenant_id)
    explained = _explained(graph, role_ids, platform=platform)
    expiries = [expires_at for _, expires_at in grants if expires_at is not None]
    return Holding(
        roles=sorted(graph.node(role_id).name for role_id in role_ids),
        scopes=frozenset(e.scope for e in explained),
        explained=explained,
        changes_at=min(expiries, default=None),
    )


@dataclass(frozen=True, slots=True)
class RoleView:
    role: Role
    scopes: list[str]
    includes: list[uuid.UUID]


def list_roles(db: Session, tenant_id: uuid.UUID) -> list[RoleView]:
    """Every role of the tenant (at most MAX_ROLES_PER_TENANT), by name, in three queries."""
    found = list(
        db.scalars(
            select(Role)
            .where(Role.tenant_id == tenant_id)
            .order_by(Role.name)
            .limit(MAX_ROLES_PER_TENANT)
        )
    )
    return _views(db, tenant_id, found)


def get_role(db: Session, tenant_id: uuid.UUID, role_id: uuid.UUID) -> RoleView:
    role = db.get(Role, (tenant_id, role_id))
    if role is None:
        raise NotFoundError("role")
    return _views(db, tenant_id, [role])[0]


def _views(db: Session, tenant_id: uuid.UUID, found: list[Role]) -> list[RoleView]:
    ids = [role.id for role in found]
    scopes: dict[uuid.UUID, list[str]] = {role_id: [] for role_id in ids}
    for role_id, scope in db.execute(
        select(RoleScope.role_id, RoleScope.scope)
        .where(RoleScope.tenant_id == tenant_id, RoleScope.role_id.in_(ids))
        .order_by(RoleScope.scope)
    ):
        scopes[role_id].append(scope)
    includes: dict[uuid.UUID, list[uuid.UUID]] = {role_id: [] for role_id in ids}
    for role_id, included in db.execute(
        select(RoleInclude.role_id, RoleInclude.included_role_id)
        .where(RoleInclude.tenant_id == tenant_id, RoleInclude.role_id.in_(ids))
        .order_by(RoleInclude.included_role_id)
    ):
        includes[role_id].append(included)
    return [RoleView(role=r, scopes=scopes[r.id], includes=includes[r.id]) for r in found]


@dataclass(frozen=True, slots=True)
class ScopeExplanation:
    """One effective scope and the role chains that grant it, granted role first."""

    scope: str
    chains: list[tuple[str, ...]]


def explain(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, *, platform: bool
) -> list[ScopeExplanation]:
    """A user's effective scopes, each with the chains of roles that grant it.

    The same scopes as effective_scopes: unexpired grants only, and platform scopes
    only in the platform tenant.
    """
    graph = load_role_graph(db, tenant_id)
    return _explained(graph, active_role_ids(db, tenant_id, user_id), platform=platform)


def _explained(
    graph: RoleGraph[uuid.UUID], role_ids: list[uuid.UUID], *, platform: bool
) -> list[ScopeExplanation]:
    return [
        ScopeExplanation(scope=scope, chains=found)
        for scope, found in sorted(graph.chains(role_ids).items())
        if platform or scope not in PLATFORM_SCOPES
    ]
