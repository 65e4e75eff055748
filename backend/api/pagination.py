"""Keyset pagination with opaque cursors.

A cursor encodes the sort key of the last row a page returned; the next page starts
strictly after it. Stable under concurrent inserts, and O(limit) at any depth, unlike
OFFSET. Clients must treat cursors as opaque: their format may change.
"""

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import Query

from backend.domain.errors import InvalidRequestError

MAX_LIMIT = 200

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (at most 200)")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page")
]


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> list[Any] | None:
    """The sort key a cursor carries; InvalidRequestError (400) if it is not one of ours."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError("cursor is not valid") from exc
    if not isinstance(key, list):
        raise InvalidRequestError("cursor is not valid")
    return key


def decode_text_cursor(cursor: str | None) -> str | None:
    """The one text sort key (a slug, a client_id) of a listing ordered by it."""
    key = decode_cursor(cursor)
    if key is None:
        return None
    if len(key) != 1 or not isinstance(key[0], str):
        raise InvalidRequestError("cursor is not valid")
    return key[0]
