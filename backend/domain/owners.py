"""The owner rule: a tenant always keeps one active owner, now and later.

An owner is an active user holding the built-in owner role. A *lasting* owner holds
it with no expiry: a time-bound owner grant lapses on its own, with nobody acting, so
only a lasting owner can be the one the tenant keeps. Time-bound owner grants are
fine beside a lasting owner (temporary elevation), never instead of one.
"""

from collections.abc import Collection, Set
from typing import TypeVar

from backend.domain.errors import ConflictError

Id = TypeVar("Id")


class LastOwnerError(ConflictError):
    """The change would leave the tenant without a lasting owner."""

    def __init__(self) -> None:
        super().__init__(
            "a tenant must keep at least one active owner whose owner role does not "
            "expire; grant the owner role (without expiry) to someone else first"
        )


def must_stay(owners: Set[Id], lasting: Set[Id], leaving: Collection[Id]) -> frozenset[Id]:
    """Of `leaving` (users about to be disabled, deleted, or to lose their lasting owner
    grant), the owners who must stay for the tenant to keep a lasting owner.

    None, if a lasting owner outside `leaving` stays; otherwise every owner among them:
    which one to keep is not ours to choose. `lasting` is a subset of `owners`.
    """
    if lasting - set(leaving):
        return frozenset()
    return frozenset(user for user in leaving if user in owners)
