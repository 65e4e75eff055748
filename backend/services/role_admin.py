"""Creating, editing and deleting a tenant's custom roles.

A role carries any registered scope: the catalogue's, or a product API's (services/apis.py
hold_scopes, which also keeps a scope from being removed while the role is written).
Every change is refused unless the actor holds every scope of the role's closure
(its own scopes and those of the roles it includes, transitively) both before and
after the change: no escalation, directly or through inclusion. Built-in roles are
fixed. A change that takes scopes away from anyone cuts off their access tokens
(see role_impact), and every change is audited with its before and after.
"""

import uuid
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backend.db.models import Role, RoleInclude, RoleScope
from backend.domain.errors import ConflictError, NotFoundError
from backend.domain.policy import require_within
from backend.domain.roles import RoleGraph, RoleNode, require_grantable
from backend.services import (
    apis,
    audit,
    authorization,
    concurrency,
    cutoff,
    role_impact,
    roles,
)
from backend.services.effects import Effects
from backend.services.principals import Principal
from backend.services.role_impact import Changed
from backend.services.roles import RoleView


def create_role(
    db: Session,
    actor: Principal,
    *,
    name: str,
    description: str,
    scopes: frozenset[str],
    includes: frozenset[uuid.UUID],
) -> Changed[RoleView]:
    """Create a custom role. Nobody holds it yet, so nobody's scopes change."""
    tenant_id = actor.tenant_id
    # Also makes the name check and the cap on roles exact among concurrent creations.
    roles.lock_role_graph(db, tenant_id)
    require_grantable(scopes, platform=actor.platform)
    apis.hold_scopes(db, scopes)
    graph = roles.load_role_graph(db, tenant_id)
    _require_known(graph, includes)
    role_id = uuid.uuid4()
    # A new role has no parents, so it cannot close a cycle; the graph gives its closure.
    closure = graph.with_role(RoleNode(role_id, name, scopes, includes)).expand([role_id])
    require_within(authorization.acting_scopes(db, actor), closure)
    _require_free_name(db, tenant_id, name)
    count = db.scalar(select(func.count()).select_from(Role).where(Role.tenant_id == tenant_id))
    if (count or 0) >= roles.MAX_ROLES_PER_TENANT:
        raise ConflictError(f"a tenant may have at most {roles.MAX_ROLES_PER_TENANT} roles")
    with _unique_name(db, name):
        db.add(Role(tenant_id=tenant_id, id=role_id, name=name, description=description))
    _write_grants(db, tenant_id, role_id, scopes, includes)
    view = roles.get_role(db, tenant_id, role_id)
    audit.record_by(db, actor, "role.created", f"role:{role_id}", {"after": _state(view)})
    return Changed(result=view, changes=[])


def update_role(
    db: Session,
    effects: Effects,
    actor: Principal,
    role_id: uuid.UUID,
    *,
    name: str | None = None,
    description: str | None = None,
    scopes: frozenset[str] | None = None,
    includes: frozenset[uuid.UUID] | None = None,
) -> Changed[RoleView]:
    """Edit a custom role; None leaves a field as it is.

    The actor must hold the role's closure before and after the edit; an inclusion that
    closes a cycle is refused (RoleCycleError names it). Users and service accounts
    that lose a scope through the edit, directly or through a role including this one,
    are cut off.
    """
    tenant_id = actor.tenant_id
    roles.lock_role_graph(db, tenant_id)
    before = roles.get_role(db, tenant_id, role_id)
    _require_custom(before.role, "edited")
    if scopes is not None:
        require_grantable(scopes, platform=actor.platform)
        apis.hold_scopes(db, scopes)
    graph = roles.load_role_graph(db, tenant_id)
    if includes is not None:
        _require_known(graph, includes)
    current = graph.node(role_id)
    edited = graph.with_role(
        RoleNode(
            role_id,
            name if name is not None else current.name,
            scopes if scopes is not None else current.scopes,
            includes if includes is not None else current.includes,
        )
    )
    require_within(
        authorization.acting_scopes(db, actor),
        graph.expand([role_id]) | edited.expand([role_id]),
    )
    if name is not None and name != before.role.name:
        _require_free_name(db, tenant_id, name)
    reach = role_impact.snapshot(
        db,
        tenant_id,
        role_impact.holders(db, tenant_id, graph.dependents(role_id)),
        platform=actor.platform,
    )
    old_state = _state(before)
    role = before.role
    if name is not None:
        with _unique_name(db, name):
            role.name = name
    if description is not None:
        role.description = description
    if scopes is not None or includes is not None:
        db.execute(
            delete(RoleScope).where(RoleScope.tenant_id == tenant_id, RoleScope.role_id == role_id)
        )
        db.execute(
            delete(RoleInclude).where(
                RoleInclude.tenant_id == tenant_id, RoleInclude.role_id == role_id
            )
        )
        node = edited.node(role_id)
        _write_grants(db, tenant_id, role_id, node.scopes, node.includes)
    after = roles.get_role(db, tenant_id, role_id)
    new_state = _state(after)
    changed = [field for field in new_state if new_state[field] != old_state[field]]
    if changed:
        audit.record_by(
            db,
            actor,
            "role.updated",
            f"role:{role_id}",
            {
                "before": {f: old_state[f] for f in changed},
                "after": {f: new_state[f] for f in changed},
            },
        )
        # GET /me shows role names and the chains of roles behind each scope.
        cutoff.profiles(db, effects, tenant_id)
    return Changed(result=after, changes=role_impact.settle(db, effects, reach))


def delete_role(
    db: Session,
    effects: Effects,
    actor: Principal,
    role_id: uuid.UUID,
) -> Changed[None]:
    """Delete a custom role with its grants; whoever loses scopes by it is cut off.

    The graph's lock makes a grant of the role either land before (its holder is cut
    off here) or wait and find the role gone (404).
    """
    tenant_id = actor.tenant_id
    roles.lock_role_graph(db, tenant_id)
    view = roles.get_role(db, tenant_id, role_id)
    _require_custom(view.role, "deleted")
    graph = roles.load_role_graph(db, tenant_id)
    require_within(authorization.acting_scopes(db, actor), graph.expand([role_id]))
    reach = role_impact.snapshot(
        db,
        tenant_id,
        role_impact.holders(db, tenant_id, graph.dependents(role_id)),
        platform=actor.platform,
    )
    old_state = _state(view)
    # The foreign keys cascade: its scopes, inclusions both ways, and every grant of it.
    db.execute(delete(Role).where(Role.tenant_id == tenant_id, Role.id == role_id))
    audit.record_by(db, actor, "role.deleted", f"role:{role_id}", {"before": old_state})
    cutoff.profiles(db, effects, tenant_id)
    return Changed(result=None, changes=role_impact.settle(db, effects, reach))


def _require_custom(role: Role, verb: str) -> None:
    if role.builtin:
        raise ConflictError(
            f"built-in role {role.name!r} cannot be {verb}; "
            "create a custom role (it may include this one) instead"
        )


def _require_known(graph: RoleGraph[uuid.UUID], includes: frozenset[uuid.UUID]) -> None:
    if any(key not in graph for key in includes):
        raise NotFoundError("included role")


def _require_free_name(db: Session, tenant_id: uuid.UUID, name: str) -> None:
    if db.scalar(select(Role.id).where(Role.tenant_id == tenant_id, Role.name == name)):
        raise ConflictError(_taken(name))


def _unique_name(db: Session, name: str) -> AbstractContextManager[None]:
    """Writes a role's name: one taken by another writer since our check (the CLI's
    platform-admin role, say) is a 409, not a 500."""
    return concurrency.unique(db, "uq_roles_tenant_id_name", _taken(name))


def _taken(name: str) -> str:
    return f"a role named {name!r} already exists in this tenant"


def _write_grants(
    db: Session,
    tenant_id: uuid.UUID,
    role_id: uuid.UUID,
    scopes: frozenset[str],
    includes: frozenset[uuid.UUID],
) -> None:
    db.add_all(RoleScope(tenant_id=tenant_id, role_id=role_id, scope=s) for s in scopes)
    db.add_all(
        RoleInclude(tenant_id=tenant_id, role_id=role_id, included_role_id=i) for i in includes
    )
    db.flush()


def _state(view: RoleView) -> dict[str, Any]:
    """What the audit log keeps of a role: everything but its ids and timestamps."""
    return {
        "name": view.role.name,
        "description": view.role.description,
        "scopes": list(view.scopes),
        "includes": sorted(str(i) for i in view.includes),
    }
