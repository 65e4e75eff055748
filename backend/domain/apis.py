"""APIs (resource servers) and their scopes: the rules their names keep.

Pure: the services and the `tessera apis apply` file reader both check here, so the
admin API and the declarative file accept exactly the same names.
"""

import re
from urllib.parse import urlsplit

from backend.domain.errors import DomainError
from backend.domain.text import unstorable

MAX_IDENTIFIER_LENGTH = 300
MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 500
MAX_SCOPE_LENGTH = 64
# `resource:action`, lowercase: the shape of every catalogue scope with a colon.
SCOPE_NAME_PATTERN = r"^[a-z][a-z0-9_.-]*:[a-z][a-z0-9_.-]*$"
_SCOPE_NAME = re.compile(SCOPE_NAME_PATTERN)
# Printable ASCII without spaces: what an absolute URI is made of (RFC 3986).
_URI_CHARACTERS = re.compile(r"^[\x21-\x7e]+$")
# What validate_identifier accepts, stated for clients and fuzzers: a scheme, "://", an
# authority that is not empty, no fragment.
IDENTIFIER_PATTERN = r'^[A-Za-z][A-Za-z0-9+.-]*://[!-"$-.0->@-~][!-"$-~]*$'


class InvalidApiError(DomainError):
    """An API or scope field that cannot be stored as given; the message says why."""


def validate_identifier(identifier: str) -> None:
    """An API's identifier is its audience: an absolute URI without a fragment (RFC 8707 §2)."""
    if len(identifier) > MAX_IDENTIFIER_LENGTH:
        raise InvalidApiError(f"identifier must be at most {MAX_IDENTIFIER_LENGTH} characters")
    if not _URI_CHARACTERS.match(identifier):
        raise InvalidApiError("identifier must be an absolute URI of printable ASCII, no spaces")
    try:
        parts = urlsplit(identifier)
    except ValueError as exc:  # an unclosed IPv6 bracket, say
        raise InvalidApiError(f"identifier is not a URI: {exc}") from exc
    if not parts.scheme or not parts.netloc:
        raise InvalidApiError("identifier must be an absolute URI such as https://api.example.com")
    if "#" in identifier:
        raise InvalidApiError("identifier must not have a fragment (RFC 8707 §2)")


def validate_scope_name(name: str) -> None:
    """A product scope is `resource:action` in lowercase, at most 64 characters."""
    if len(name) > MAX_SCOPE_LENGTH or not _SCOPE_NAME.match(name):
        raise InvalidApiError(
            f"scope {name[:MAX_SCOPE_LENGTH]!r} must be resource:action "
            f"(a-z, 0-9, '_', '.', '-'; at most {MAX_SCOPE_LENGTH} characters)"
        )


def validate_text(field: str, value: str, *, max_length: int, required: bool = False) -> None:
    """Text PostgreSQL can store (domain/text.py), within its length."""
    if required and not value.strip():
        raise InvalidApiError(f"{field} must not be empty")
    if len(value) > max_length:
        raise InvalidApiError(f"{field} must be at most {max_length} characters")
    reason = unstorable(value)
    if reason is not None:
        raise InvalidApiError(f"{field} {reason}")
