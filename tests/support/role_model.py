"""The role expansion as a test oracle: computed from the rows a test arranged, by role
index, with none of the code under test."""

from datetime import datetime
from typing import TypeVar

S = TypeVar("S", bound=str)
# Roles by index: (the scopes stored for the role, the indexes of the roles it includes).
Graph = list[tuple[frozenset[S], frozenset[int]]]


def closure(graph: Graph[S], granted: set[int]) -> set[S]:
    """The scopes of the granted roles and of every role they include, transitively."""
    seen: set[int] = set()
    stack = list(granted)
    while stack:
        index = stack.pop()
        if index not in seen:
            seen.add(index)
            stack.extend(graph[index][1])
    return {scope for index in seen for scope in graph[index][0]}


def lapses(graph: Graph[S], grants: dict[int, datetime | None]) -> dict[S, datetime | None]:
    """When each held scope lapses: with the longest-lived grant that reaches it (None:
    never). `grants` are the unexpired ones, by role index, with their expiry."""
    giving: dict[S, list[datetime | None]] = {}
    for index, expires_at in grants.items():
        for scope in closure(graph, {index}):
            giving.setdefault(scope, []).append(expires_at)
    return {
        scope: None if None in ends else max(end for end in ends if end is not None)
        for scope, ends in giving.items()
    }
