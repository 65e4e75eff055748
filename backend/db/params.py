"""Bind parameters shared by set-based statements."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, Uuid, any_, bindparam


def any_id(ids: Sequence[uuid.UUID]) -> Any:
    """`column == any_id(ids)`: the ids as one array parameter (`= ANY(:ids)`), not one
    bind value each, so the statement is the same however many ids a batch has."""
    return any_(bindparam("ids", list(ids), type_=ARRAY(Uuid())))
