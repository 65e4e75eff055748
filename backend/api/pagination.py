"""Keyset pagination with opaque cursors: the one codec and page shape of every listing.

A cursor encodes the sort key of the last row a page returned; the next page starts
strictly after it. Stable under concurrent inserts, and O(limit) at any depth, unlike
OFFSET. Clients must treat cursors as opaque: their format may change.

On the wire a cursor is base64url (unpadded) of the JSON list `[listing, *key]`: the
listing's name first, so that a cursor one listing issued is refused by another, then
the key's parts (text, a UUID as text, a moment as RFC 3339 text). A cursor that is not
one of the listing's is a 400 (`invalid_request`) saying what is wrong with it, never a
500: its text parts are checked for what PostgreSQL cannot hold (NUL, lone surrogates).
"""

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from backend.domain.errors import InvalidRequestError
from backend.domain.moments import parse_moment

MAX_LIMIT = 200

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (at most 200)")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page")
]

# The types a key's part may have.
KeyPart = type[str] | type[uuid.UUID] | type[datetime]

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")

Item = TypeVar("Item")


class PageOut(BaseModel, Generic[Item]):
    """The answer of every listing: a page of items, and `next_cursor` to ask for the
    next one; null exactly when no row follows, so a last page is never empty."""

    items: list[Item]
    next_cursor: str | None


class BadCursorError(InvalidRequestError):
    """A cursor this listing did not issue (400 `invalid_request`, with the reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cursor is not valid: {reason}")


@dataclass(frozen=True, slots=True)
class Keyset:
    """One listing's cursors: its name and the named, typed parts of its sort key."""

    listing: str
    parts: tuple[tuple[str, KeyPart], ...]

    def cursor(self, key: tuple[Any, ...] | None) -> str | None:
        """The cursor of the page after `key`; None (no next page) for no key."""
        if key is None:
            return None
        values = [self.listing, *(_dump(value) for value in key)]
        raw = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def key(self, cursor: str | None) -> tuple[Any, ...] | None:
        """The sort key a cursor of this listing carries (None for no cursor), or
        BadCursorError saying why the cursor is not one."""
        if cursor is None:
            return None
        if not _BASE64URL.fullmatch(cursor) or len(cursor) % 4 == 1:
            raise BadCursorError("not base64url")
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError) as exc:
            raise BadCursorError("not base64url") from exc
        try:
            values = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadCursorError("not JSON") from exc
        if (
            not isinstance(values, list)
            or len(values) != len(self.parts) + 1
            or values[0] != self.listing
        ):
            raise BadCursorError(f"not one of the {self.listing} listing's")
        parts = zip(self.parts, values[1:], strict=True)
        return tuple(_load(name, kind, value) for (name, kind), value in parts)


def _dump(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _load(name: str, kind: KeyPart, value: object) -> object:
    if not isinstance(value, str):
        raise BadCursorError(f"its {name} is not text")
    if kind is str:
        # PostgreSQL text holds neither NUL nor (as UTF-8) a lone surrogate: either
        # would fail in the query, a 500. No cursor we issue has one.
        if "\x00" in value or (not value.isascii() and _has_surrogate(value)):
            raise BadCursorError(f"its {name} holds a NUL or a lone surrogate")
        return value
    if kind is uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError as exc:
            raise BadCursorError(f"its {name} is not a UUID") from exc
    try:
        return parse_moment(value)
    except ValueError as exc:
        raise BadCursorError(f"its {name} is not a date-time with a time zone") from exc


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
