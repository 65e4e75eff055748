"""A page of a keyset-paginated listing, as services hand it to routes."""

from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Key = TypeVar("Key")


@dataclass(frozen=True, slots=True)
class Page(Generic[Item, Key]):
    items: list[Item]
    # The sort key of the last item when more rows follow it; None on the last page.
    # Services fetch one row more than asked to know, so a last page is never empty.
    next_key: Key | None
