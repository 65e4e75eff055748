"""Role graph: composite roles, their expansion into scopes, and cycle detection.

A role grants its own scopes plus those of every role it includes, transitively.
Inclusion must form a DAG. Everything here is pure: callers load the graph of one
tenant and ask questions of it.
"""

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from backend.domain.errors import DomainError, RoleCycleError
from backend.domain.scopes import PLATFORM_SCOPES, READ_SCOPES, TENANT_SCOPES, Scope

RoleKey = TypeVar("RoleKey", bound=Hashable)
Subject = TypeVar("Subject", bound=Hashable)
# Each effective scope and when it lapses (None: never). A scope lapses when the last
# of the grants that give it does; a grant that never expires keeps it for good.
Lapses = Mapping[str, datetime | None]

# How many chains `RoleGraph.chains` keeps per scope: a DAG of diamonds has
# exponentially many paths, and a handful explains a grant as well as all of them.
MAX_CHAINS_PER_SCOPE = 10


@dataclass(frozen=True, slots=True)
class RoleNode(Generic[RoleKey]):
    key: RoleKey
    name: str
    scopes: frozenset[str]
    includes: frozenset[RoleKey] = field(default_factory=frozenset)


class RoleGraph(Generic[RoleKey]):
    """The roles of one tenant, keyed by id. Construction refuses a cycle."""

    def __init__(self, nodes: Iterable[RoleNode[RoleKey]]) -> None:
        self._nodes: dict[RoleKey, RoleNode[RoleKey]] = {n.key: n for n in nodes}
        cycle = find_cycle({k: n.includes for k, n in self._nodes.items()})
        if cycle is not None:
            raise RoleCycleError([self._nodes[k].name for k in cycle])

    def __contains__(self, key: object) -> bool:
        return key in self._nodes

    def node(self, key: RoleKey) -> RoleNode[RoleKey]:
        return self._nodes[key]

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

    def expand(self, keys: Iterable[RoleKey]) -> frozenset[str]:
        """The union of scopes over the closure of `keys`."""
        scopes: set[str] = set()
        for key in self.closure(keys):
            scopes |= self._nodes[key].scopes
        return frozenset(scopes)

    def lapses(self, grants: Mapping[RoleKey, datetime | None]) -> dict[str, datetime | None]:
        """Each effective scope of `grants` (granted role -> its grant's expiry, None for
        never) and when it lapses: the same expansion as `expand`, one grant at a time.

        The SQL function tessera_user_grants computes the same for the token grants; a
        property test keeps the two in agreement.
        """
        result: dict[str, datetime | None] = {}
        for key, expires_at in grants.items():
            for scope in self.expand([key]):
                # The scope lasts as long as the longest-lived grant that gives it.
                if scope not in result or lapses_sooner(expires_at, result[scope]):
                    result[scope] = expires_at
        return result

    def provenance(self, keys: Iterable[RoleKey]) -> dict[str, set[str]]:
        """For each effective scope, the names of the roles that carry it directly."""
        result: dict[str, set[str]] = {}
        for key in self.closure(keys):
            node = self._nodes[key]
            for scope in node.scopes:
                result.setdefault(scope, set()).add(node.name)
        return result

    def chains(
        self, keys: Iterable[RoleKey], *, limit: int = MAX_CHAINS_PER_SCOPE
    ) -> dict[str, list[tuple[str, ...]]]:
        """For each effective scope, the chains of role names that grant it.

        A chain starts at a granted role (one of `keys`) and follows inclusion down to a
        role that carries the scope itself: `("owner", "admin")` reads "owner includes
        admin, which carries it". Chains are sorted shortest first, then by name, and at
        most `limit` are kept per scope. Each role's chains are computed once, so the
        work stays polynomial however many paths the graph has.
        """
        memo: dict[RoleKey, dict[str, list[tuple[str, ...]]]] = {}
        result: dict[str, set[tuple[str, ...]]] = {}
        for key in {k for k in keys if k in self._nodes}:
            for scope, found in self._chains_from(key, memo, limit).items():
                result.setdefault(scope, set()).update(found)
        return {scope: _best(found, limit) for scope, found in result.items()}

    def _chains_from(
        self,
        root: RoleKey,
        memo: dict[RoleKey, dict[str, list[tuple[str, ...]]]],
        limit: int,
    ) -> dict[str, list[tuple[str, ...]]]:
        # Post-order without recursion: a role's chains need its included roles' first.
        stack: list[tuple[RoleKey, bool]] = [(root, False)]
        while stack:
            key, expanded = stack.pop()
            if key in memo:
                continue
            node = self._nodes[key]
            children = [k for k in node.includes if k in self._nodes]
            if not expanded:
                stack.append((key, True))
                stack.extend((k, False) for k in children if k not in memo)
                continue
            found: dict[str, set[tuple[str, ...]]] = {s: {(node.name,)} for s in node.scopes}
            for child in children:
                for scope, tails in memo[child].items():
                    found.setdefault(scope, set()).update((node.name, *t) for t in tails)
            memo[key] = {scope: _best(chains, limit) for scope, chains in found.items()}
        return memo[root]

    def dependents(self, key: RoleKey) -> set[RoleKey]:
        """Every role whose closure contains `key`, `key` included: who a change to it reaches."""
        parents: dict[RoleKey, list[RoleKey]] = {}
        for node in self._nodes.values():
            for included in node.includes:
                parents.setdefault(included, []).append(node.key)
        seen: set[RoleKey] = set()
        stack = [key] if key in self._nodes else []
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(parents.get(current, ()))
        return seen

    def with_role(self, node: RoleNode[RoleKey]) -> "RoleGraph[RoleKey]":
        """The graph with `node` added or replacing the role of the same key.

        Raises RoleCycleError, naming the roles around it, if the change closes a cycle.
        """
        return RoleGraph([*(n for k, n in self._nodes.items() if k != node.key), node])


def _best(chains: Iterable[tuple[str, ...]], limit: int) -> list[tuple[str, ...]]:
    return sorted(chains, key=lambda chain: (len(chain), chain))[:limit]


def render_chain(scope: str, chain: Iterable[str]) -> str:
    """`users:write <- admin <- owner`: the scope, then the roles back to the granted one."""
    return " <- ".join([scope, *reversed(list(chain))])


class PlatformScopeError(DomainError):
    """A platform scope in a role outside the platform tenant."""

    def __init__(self, scopes: Iterable[str]) -> None:
        self.scopes = sorted(set(scopes))
        super().__init__(
            "platform scope(s) "
            + " ".join(self.scopes)
            + " can only be granted by roles of the platform tenant"
        )


def require_grantable(scopes: Iterable[str], *, platform: bool) -> None:
    """Refuse platform scopes in a role of any tenant but the platform tenant."""
    if not platform:
        found = set(scopes) & PLATFORM_SCOPES
        if found:
            raise PlatformScopeError(found)


def lapses_sooner(old: datetime | None, new: datetime | None) -> bool:
    """Whether a lapse at `new` comes before one at `old` (None is never)."""
    return new is not None and (old is None or new < old)


@dataclass(frozen=True, slots=True)
class ScopeChange(Generic[Subject]):
    """What one subject's effective scopes gained and lost through a change, and which
    of those it keeps now lapse sooner than they did."""

    subject: Subject
    gained: frozenset[str]
    lost: frozenset[str]
    hastened: frozenset[str] = frozenset()

    @property
    def cuts_off(self) -> bool:
        """Whether the subject's access tokens must stop working: they carry a lost scope,
        or an expiry set for a lapse that now comes sooner (see services/auth.py)."""
        return bool(self.lost or self.hastened)


def scope_changes(
    before: Mapping[Subject, Lapses], after: Mapping[Subject, Lapses]
) -> list[ScopeChange[Subject]]:
    """The subjects whose scopes, or their lapses, differ between two snapshots (absent
    means none)."""
    changes = []
    for subject in before.keys() | after.keys():
        old, new = before.get(subject, {}), after.get(subject, {})
        hastened = frozenset(s for s in old.keys() & new.keys() if lapses_sooner(old[s], new[s]))
        gained, lost = frozenset(new.keys() - old.keys()), frozenset(old.keys() - new.keys())
        if gained or lost or hastened:
            changes.append(ScopeChange(subject, gained=gained, lost=lost, hastened=hastened))
    return changes


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
    scopes: frozenset[str]


OWNER = BuiltinRole("owner", "Every tenant scope; a tenant always keeps one", TENANT_SCOPES)
ADMIN = BuiltinRole(
    "admin",
    "Manages users, roles and keys; cannot change the tenant's own settings",
    TENANT_SCOPES - {Scope.TENANT_MANAGE},
)
MEMBER = BuiltinRole("member", "A regular user: their own profile", frozenset({Scope.ME}))
AUDITOR = BuiltinRole("auditor", "Reads everything, changes nothing", READ_SCOPES)

BUILTIN_ROLES: tuple[BuiltinRole, ...] = (OWNER, ADMIN, MEMBER, AUDITOR)
