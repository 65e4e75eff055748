"""`Text`: the type of every string the API takes, in a body, a form, a query or a header.

A string PostgreSQL can store (domain/text.py): NUL or a lone surrogate is a 422 naming
the field, before anything reads it. Checked before the field's own constraints (length,
pattern), so the reason is the one that matters. `SecretText` is the same rule for a
password, whose value stays hidden in reprs and logs.
"""

from typing import Annotated

from pydantic import BeforeValidator, SecretStr

from backend.domain.text import unstorable


def _storable(value: object) -> object:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if isinstance(text, str) and (problem := unstorable(text)) is not None:
        raise ValueError(problem)
    return value


STORABLE = BeforeValidator(_storable)
# The bound of a header the API reads: what uvicorn's parsers take in one line.
HEADER_MAX_LENGTH = 8192
Text = Annotated[str, STORABLE]
SecretText = Annotated[SecretStr, STORABLE]
