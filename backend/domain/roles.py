"""Role graph: composite roles, their expansion into scopes, and cycle detection.

A role grants its own scopes plus those of every role it includes, transitively.
Inclusion must form a DAG. Everything here is pure: callers load the graph of one
tenant and ask questions of it.
"""

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from backend.domain.errors import RoleCycleError
from backend.domain.scopes import READ_SCOPES, TENANT_SCOPES, Scope

RoleKey = TypeVar("RoleKey", bound=Hashable)


@dataclass(frozen=True, slots=True)
class RoleNode(Generic[RoleKey]):
    key: RoleKey
    name: str
    scopes: frozenset[Scope]
    includes: frozenset[RoleKey] = field(default_factory=frozenset)


class RoleGraph(Generic[RoleKey]):
    """The roles of one tenant, keyed by id. Construction refuses a cycle."""

    def __init__(self, nodes: Iterable[RoleNode[RoleKey]]) -> None:
        self._nodes: dict[RoleKey, RoleNode[RoleKey]] = {n.key: n for n in nodes}
        cycle = find_cycle({k: n.includes for k, n in self._nodes.items()})
        if cycle is not None:
            raise RoleCycleError([self._nodes[k].name for k in cycle])

    def closure(self, keys: Iterable[RoleKey]) -> set[RoleKey]:
        """Every role reachable from `keys` through inclusion, `keys` included.

        Keys that are not in the graph (a grant to a role deleted meanwhile) are skipped.
        """
        seen: set[RoleKey] = set()
        stack = [k for k in keys if k in self._nodes]
        while stack:
            key = stack.pop()
            if key in seen:
                continue
            seen.add(key)
            stack.extend(k for k in self._nodes[key].includes if k in self._nodes)
        return seen

    def expand(self, keys: Iterable[RoleKey]) -> frozenset[Scope]:
        """The union of scopes over the closure of `keys`."""
        scopes: set[Scope] = set()
        for key in self.closure(keys):
            scopes |= self._nodes[key].scopes
        return frozenset(scopes)

    def provenance(self, keys: Iterable[RoleKey]) -> dict[Scope, set[str]]:
        """For each effective scope, the names of the roles that carry it directly."""
        result: dict[Scope, set[str]] = {}
        for key in self.closure(keys):
            node = self._nodes[key]
            for scope in node.scopes:
                result.setdefault(scope, set()).add(node.name)
        return result


def find_cycle(edges: Mapping[RoleKey, Iterable[RoleKey]]) -> list[RoleKey] | None:
    """Return one cycle as a path that starts and ends on the same key, or None.

    Iterative three-colour depth-first search, so deep graphs cannot overflow the stack.
    """
    white, grey, black = 0, 1, 2
    colour: dict[RoleKey, int] = {k: white for k in edges}
    for root in edges:
        if colour[root] != white:
            continue
        path: list[RoleKey] = [root]
        iterators = [iter(edges[root])]
        colour[root] = grey
        while iterators:
            child = next(iterators[-1], None)
            if child is None:
                iterators.pop()
                colour[path.pop()] = black
                continue
            state = colour.get(child, black)
            if state == grey:
                return [*path[path.index(child) :], child]
            if state == white:
                colour[child] = grey
                path.append(child)
                iterators.append(iter(edges[child]))
    return None


@dataclass(frozen=True, slots=True)
class BuiltinRole:
    name: str
    description: str
    scopes: frozenset[Scope]


OWNER = BuiltinRole("owner", "Every tenant scope; a tenant always keeps one", TENANT_SCOPES)
ADMIN = BuiltinRole(
    "admin",
    "Manages users, roles and keys; cannot change the tenant's own settings",
    TENANT_SCOPES - {Scope.TENANT_MANAGE},
)
MEMBER = BuiltinRole("member", "A regular user: their own profile", frozenset({Scope.ME}))
AUDITOR = BuiltinRole("auditor", "Reads everything, changes nothing", READ_SCOPES)

BUILTIN_ROLES: tuple[BuiltinRole, ...] = (OWNER, ADMIN, MEMBER, AUDITOR)
