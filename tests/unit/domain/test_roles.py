import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.domain.errors import RoleCycleError
from backend.domain.roles import (
    ADMIN,
    AUDITOR,
    MEMBER,
    OWNER,
    PlatformScopeError,
    RoleGraph,
    RoleNode,
    ScopeChange,
    find_cycle,
    render_chain,
    require_grantable,
    scope_changes,
)
from backend.domain.scopes import PLATFORM_SCOPES, TENANT_SCOPES, Scope
from tests.support.role_model import closure


def node(key: str, scopes: set[Scope], includes: set[str] | None = None) -> RoleNode[str]:
    return RoleNode(key=key, name=key, scopes=frozenset(scopes), includes=frozenset(includes or ()))


def test_expansion_follows_inclusion_transitively() -> None:
    graph = RoleGraph(
        [
            node("viewer", {Scope.USERS_READ}),
            node("editor", {Scope.USERS_WRITE}, {"viewer"}),
            node("manager", {Scope.ROLES_ASSIGN}, {"editor"}),
            node("unrelated", {Scope.AUDIT_READ}),
        ]
    )
    assert graph.expand(["manager"]) == {Scope.ROLES_ASSIGN, Scope.USERS_WRITE, Scope.USERS_READ}
    assert graph.expand(["viewer"]) == {Scope.USERS_READ}
    assert graph.expand([]) == frozenset()


def test_diamond_is_expanded_once_and_fully() -> None:
    graph = RoleGraph(
        [
            node("base", {Scope.ME}),
            node("left", {Scope.USERS_READ}, {"base"}),
            node("right", {Scope.ROLES_READ}, {"base"}),
            node("top", set(), {"left", "right"}),
        ]
    )
    assert graph.closure(["top"]) == {"top", "left", "right", "base"}
    assert graph.expand(["top"]) == {Scope.ME, Scope.USERS_READ, Scope.ROLES_READ}


def test_unknown_keys_grant_nothing() -> None:
    graph = RoleGraph([node("a", {Scope.ME})])
    assert graph.expand(["gone", "a"]) == {Scope.ME}


def test_provenance_names_the_roles_that_carry_each_scope() -> None:
    graph = RoleGraph([node("a", {Scope.ME, Scope.USERS_READ}), node("b", {Scope.ME}, {"a"})])
    assert graph.provenance(["b"]) == {Scope.ME: {"a", "b"}, Scope.USERS_READ: {"a"}}


@pytest.mark.parametrize(
    ("edges", "members"),
    [
        ({"a": ["a"]}, {"a"}),
        ({"a": ["b"], "b": ["a"]}, {"a", "b"}),
        ({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}, {"a", "b", "c"}),
    ],
)
def test_find_cycle_returns_a_closed_path(edges: dict[str, list[str]], members: set[str]) -> None:
    cycle = find_cycle(edges)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert set(cycle) == members
    for here, there in itertools.pairwise(cycle):
        assert there in edges[here]


def test_acyclic_graph_has_no_cycle() -> None:
    assert find_cycle({"a": ["b", "c"], "b": ["c"], "c": []}) is None


def test_graph_refuses_a_cycle_and_names_it() -> None:
    with pytest.raises(RoleCycleError) as caught:
        RoleGraph([node("x", set(), {"y"}), node("y", set(), {"z"}), node("z", set(), {"x"})])
    assert caught.value.cycle[0] == caught.value.cycle[-1]
    assert set(caught.value.cycle) == {"x", "y", "z"}
    assert "->" in str(caught.value)


def test_deep_chain_does_not_overflow_the_stack() -> None:
    depth = 5_000
    nodes = [
        node(f"r{i}", {Scope.ME} if i == depth - 1 else set(), {f"r{i + 1}"})
        for i in range(depth - 1)
    ]
    nodes.append(node(f"r{depth - 1}", {Scope.ME}))
    assert RoleGraph(nodes).expand(["r0"]) == {Scope.ME}


@st.composite
def dags(draw: st.DrawFn) -> dict[int, tuple[frozenset[Scope], frozenset[int]]]:
    """Random DAGs: a role may only include roles with a higher number."""
    size = draw(st.integers(1, 12))
    return {
        i: (
            frozenset(draw(st.sets(st.sampled_from(list(Scope)), max_size=4))),
            frozenset(draw(st.sets(st.integers(i + 1, size), max_size=3)) - {size}),
        )
        for i in range(size)
    }


@given(dags(), st.data())
def test_expansion_equals_union_over_reachable_roles(
    graph_spec: dict[int, tuple[frozenset[Scope], frozenset[int]]], data: st.DataObject
) -> None:
    graph = RoleGraph(RoleNode(k, str(k), s, inc) for k, (s, inc) in graph_spec.items())
    granted = data.draw(st.sets(st.sampled_from(sorted(graph_spec))))
    # The keys are 0 .. size - 1: the spec is the oracle's list of roles by index.
    assert graph.expand(granted) == closure([graph_spec[k] for k in sorted(graph_spec)], granted)


def test_builtin_roles() -> None:
    assert OWNER.scopes == TENANT_SCOPES
    assert Scope.TENANT_MANAGE not in ADMIN.scopes
    assert ADMIN.scopes < OWNER.scopes
    assert MEMBER.scopes == {Scope.ME}
    assert all(s.value.endswith(":read") or s is Scope.ME for s in AUDITOR.scopes)
    for role in (OWNER, ADMIN, MEMBER, AUDITOR):
        assert not role.scopes & PLATFORM_SCOPES


def test_chains_lead_from_each_granted_role_to_the_carrier() -> None:
    graph = RoleGraph(
        [
            node("viewer", {Scope.USERS_READ}),
            node("editor", {Scope.USERS_WRITE}, {"viewer"}),
            node("manager", {Scope.USERS_READ}, {"editor"}),
            node("other", {Scope.AUDIT_READ}),
        ]
    )
    assert graph.chains(["manager", "viewer"]) == {
        Scope.USERS_READ: [("manager",), ("viewer",), ("manager", "editor", "viewer")],
        Scope.USERS_WRITE: [("manager", "editor")],
    }
    assert graph.chains([]) == {}
    assert graph.chains(["gone"]) == {}


def test_chains_cover_both_sides_of_a_diamond() -> None:
    graph = RoleGraph(
        [
            node("base", {Scope.ME}),
            node("left", set(), {"base"}),
            node("right", set(), {"base"}),
            node("top", set(), {"left", "right"}),
        ]
    )
    assert graph.chains(["top"]) == {Scope.ME: [("top", "left", "base"), ("top", "right", "base")]}


def test_chains_are_capped_per_scope_on_a_ladder_of_diamonds() -> None:
    # 2^20 paths from r0 to the bottom: the memoised walk must not enumerate them.
    nodes = [node("bottom", {Scope.ME})]
    below = "bottom"
    for i in range(20):
        nodes += [node(f"a{i}", set(), {below}), node(f"b{i}", set(), {below})]
        nodes.append(node(f"r{i}", set(), {f"a{i}", f"b{i}"}))
        below = f"r{i}"
    chains = RoleGraph(nodes).chains([below], limit=5)[Scope.ME]
    assert len(chains) == 5
    assert all(c[0] == below and c[-1] == "bottom" for c in chains)


def test_chains_agree_with_provenance_and_expansion() -> None:
    graph = RoleGraph(
        [node("a", {Scope.ME, Scope.USERS_READ}), node("b", {Scope.ME}, {"a"}), node("c", set())]
    )
    chains = graph.chains(["b", "c"])
    assert set(chains) == graph.expand(["b", "c"])
    for scope, found in chains.items():
        assert {chain[-1] for chain in found} == graph.provenance(["b", "c"])[scope]


def test_render_chain_puts_the_granted_role_last() -> None:
    assert render_chain("users:write", ("owner", "admin")) == "users:write <- admin <- owner"
    assert render_chain("me", ("member",)) == "me <- member"


def test_dependents_are_the_roles_whose_closure_holds_a_role() -> None:
    graph = RoleGraph(
        [
            node("base", {Scope.ME}),
            node("left", set(), {"base"}),
            node("top", set(), {"left"}),
            node("apart", set()),
        ]
    )
    assert graph.dependents("base") == {"base", "left", "top"}
    assert graph.dependents("top") == {"top"}
    assert graph.dependents("gone") == set()


def test_with_role_replaces_a_role_and_refuses_a_cycle() -> None:
    graph = RoleGraph([node("a", {Scope.ME}), node("b", set(), {"a"})])
    edited = graph.with_role(node("a", {Scope.USERS_READ}))
    assert edited.expand(["b"]) == {Scope.USERS_READ}
    assert graph.expand(["b"]) == {Scope.ME}
    assert "c" in graph.with_role(node("c", set(), {"b"}))
    with pytest.raises(RoleCycleError) as caught:
        graph.with_role(node("a", set(), {"b"}))
    assert set(caught.value.cycle) == {"a", "b"}


def test_platform_scopes_are_grantable_only_in_the_platform_tenant() -> None:
    require_grantable({Scope.TENANTS_READ, Scope.ME}, platform=True)
    require_grantable(TENANT_SCOPES, platform=False)
    with pytest.raises(PlatformScopeError) as caught:
        require_grantable({Scope.TENANTS_WRITE, Scope.ME}, platform=False)
    assert caught.value.scopes == ["tenants:write"]
    assert "platform tenant" in str(caught.value)


def test_scope_changes_list_only_who_changed() -> None:
    before = {"ann": dict.fromkeys([Scope.ME, Scope.USERS_READ]), "bob": {Scope.ME: None}}
    after = {"ann": dict.fromkeys([Scope.ME, Scope.AUDIT_READ]), "bob": {Scope.ME: None}}
    assert scope_changes(before, after) == [
        ScopeChange("ann", gained=frozenset({Scope.AUDIT_READ}), lost=frozenset({Scope.USERS_READ}))
    ]
    assert scope_changes({"cy": {Scope.ME: None}}, {}) == [
        ScopeChange("cy", gained=frozenset(), lost=frozenset({Scope.ME}))
    ]


def test_a_lapse_that_comes_sooner_is_a_change_that_cuts_off() -> None:
    soon, later = datetime(2030, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)
    before = {"ann": {Scope.ME: None}, "bob": {Scope.ME: later}, "cy": {Scope.ME: soon}}
    after = {"ann": {Scope.ME: later}, "bob": {Scope.ME: soon}, "cy": {Scope.ME: later}}
    changes = sorted(scope_changes(before, after), key=lambda c: c.subject)
    assert [(c.subject, c.hastened, c.cuts_off) for c in changes] == [
        ("ann", frozenset({Scope.ME}), True),
        ("bob", frozenset({Scope.ME}), True),
    ]
    # Lapsing later (cy), or gaining a scope, cuts nobody off.
    gained = scope_changes({"cy": {}}, {"cy": {Scope.ME: soon}})
    assert [c.cuts_off for c in gained] == [False]


def test_a_scope_lapses_with_the_last_grant_that_gives_it() -> None:
    soon, later = datetime(2030, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)
    graph = RoleGraph(
        [
            node("base", {Scope.ME}),
            node("reader", {Scope.AUDIT_READ}, {"base"}),
            node("writer", {Scope.USERS_WRITE}, {"base"}),
            node("lasting", {Scope.ROLES_READ}),
        ]
    )
    lapses = graph.lapses({"reader": soon, "writer": later, "lasting": None, "gone": soon})
    assert lapses == {
        Scope.ME: later,
        Scope.AUDIT_READ: soon,
        Scope.USERS_WRITE: later,
        Scope.ROLES_READ: None,
    }
    assert graph.lapses({"reader": soon, "base": None})[Scope.ME] is None


@given(
    dags(),
    st.dictionaries(st.integers(0, 7), st.none() | st.integers(0, 3), max_size=8),
)
def test_lapses_cover_the_expansion_and_take_the_latest_grant(
    spec: dict[int, tuple[frozenset[Scope], frozenset[int]]], grants: dict[int, int | None]
) -> None:
    graph = RoleGraph(RoleNode(k, str(k), s, inc) for k, (s, inc) in spec.items())
    expiries = {
        k: None if day is None else datetime(2030, 1, 1 + day, tzinfo=UTC)
        for k, day in grants.items()
    }
    lapses = graph.lapses(expiries)
    assert lapses.keys() == graph.expand(expiries)
    for scope, lapse in lapses.items():
        giving = [e for k, e in expiries.items() if scope in graph.expand([k])]
        assert lapse == (None if None in giving else max(e for e in giving if e is not None))
