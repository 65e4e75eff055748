"""A page of a keyset-paginated listing, as services hand it to routes."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Key = TypeVar("Key")


@dataclass(frozen=True, slots=True)
class Page(Generic[Item, Key]):
    items: list[Item]
    # The sort key of the last item when more rows follow it; None on the last page.
    next_key: Key | None


def page_of(rows: Sequence[Item], limit: int, key: Callable[[Item], Key]) -> Page[Item, Key]:
    """The page of a listing query that asked for `limit + 1` rows: the first `limit`,
    and the key of the last of them only if a row follows it, so a last page is never
    followed by an empty one."""
    kept = list(rows[:limit])
    return Page(items=kept, next_key=key(kept[-1]) if len(rows) > limit else None)
