"""Clients (applications that sign users in): their kinds, grants, and the rules their
registered URIs keep.

A redirect URI is compared byte for byte at /authorize, so what is registered must be
a URI that can only ever reach the application: absolute, without a fragment (RFC 6749
§3.1.2), HTTPS except on the loopback interface (RFC 8252 §7.3), or a private-use scheme
named after a domain the app owns (RFC 8252 §7.1). Allowed origins are origins (RFC 6454):
scheme, host and port, nothing else.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import SplitResult, urlsplit

from backend.domain.errors import DomainError

CLIENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN.removeprefix("^").removesuffix("$"))
MAX_URI_LENGTH = 2000
MAX_URIS = 50
# Hosts for which plain HTTP is allowed: the loopback interface never leaves the machine.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
# Schemes that can never be a redirect target, even if they look private-use.
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "blob", "about"})
_PRIVATE_SCHEME = re.compile(r"[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+")
# URIs are ASCII (RFC 3986 §2): anything else, controls and spaces included, is refused.
_URI_CHARACTERS = re.compile(r"[!-~]+")


class ClientType(StrEnum):
    # Single-page and native apps: they cannot keep a secret, so PKCE is their proof.
    PUBLIC = "public"
    # Server-side apps: they authenticate at /token with a secret.
    CONFIDENTIAL = "confidential"


class GrantType(StrEnum):
    AUTHORIZATION_CODE = "authorization_code"
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 (a grant type, not a secret)
    PASSWORD = "password"  # noqa: S105 (a grant type, not a secret)


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """A client as declared (POST /clients, or a [[client]] table of `clients apply`),
    checked by services/clients.py `checked`: every list deduplicated, in order."""

    client_id: str
    name: str
    type: ClientType
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    allowed_origins: list[str] = field(default_factory=list)
    grant_types: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)


class ClientMetadataError(DomainError):
    """A client's registration breaks a rule; the message names the field and the rule."""


def validate_client_id(client_id: str) -> str:
    if not _CLIENT_ID.fullmatch(client_id):
        raise ClientMetadataError(
            f"client_id {client_id[:80]!r} is invalid: 1-64 of A-Z, a-z, 0-9, '.', '_' and "
            "'-', starting with a letter or digit"
        )
    return client_id


def validate_name(name: str) -> str:
    if not name.strip() or len(name) > 200:
        raise ClientMetadataError("name must be 1-200 characters")
    if "\x00" in name or any("\ud800" <= char <= "\udfff" for char in name):
        raise ClientMetadataError("name holds a NUL character or a lone surrogate")
    return name


def validate_redirect_uris(field: str, uris: Iterable[str]) -> list[str]:
    """Registered redirect (or post-logout redirect) URIs, in order, duplicates dropped."""
    return _each(field, uris, _redirect_uri)


def validate_origins(origins: Iterable[str]) -> list[str]:
    """CORS origins, as browsers send them in `Origin`: `scheme://host[:port]`."""
    return _each("allowed_origins", origins, _origin)


def validate_grant_types(grants: Iterable[str], redirect_uris: list[str]) -> list[GrantType]:
    """The grants a client may use; the code grant needs somewhere to send the code."""
    known = {g.value for g in GrantType}
    chosen: list[GrantType] = []
    for grant in grants:
        if grant not in known:
            raise ClientMetadataError(
                f"grant_types: unknown grant {grant[:80]!r} (expected one of "
                + ", ".join(sorted(known))
                + ")"
            )
        if GrantType(grant) not in chosen:
            chosen.append(GrantType(grant))
    if GrantType.AUTHORIZATION_CODE in chosen and not redirect_uris:
        raise ClientMetadataError("grant_types: authorization_code needs at least one redirect_uri")
    return chosen


def _each(field: str, values: Iterable[str], check: Callable[[str], str | None]) -> list[str]:
    kept: list[str] = []
    for value in values:
        problem = check(value)
        if problem is not None:
            raise ClientMetadataError(f"{field}: {value[:80]!r} {problem}")
        if value not in kept:
            kept.append(value)
    if len(kept) > MAX_URIS:
        raise ClientMetadataError(f"{field}: at most {MAX_URIS} entries")
    return kept


def _parsed(value: str) -> SplitResult | str:
    if len(value) > MAX_URI_LENGTH:
        return f"is longer than {MAX_URI_LENGTH} characters"
    if not _URI_CHARACTERS.fullmatch(value):
        return "holds characters a URI may not (spaces, controls or non-ASCII)"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        return "is not a valid URI"
    if not parts.scheme:
        return "is not absolute"
    return parts


def _redirect_uri(value: str) -> str | None:
    parts = _parsed(value)
    if isinstance(parts, str):
        return parts
    if "#" in value:
        return "has a fragment, which a redirect URI may not (RFC 6749 §3.1.2)"
    scheme = parts.scheme.lower()
    if scheme in {"http", "https"}:
        return _web_problem(parts)
    if scheme in _FORBIDDEN_SCHEMES or not _PRIVATE_SCHEME.fullmatch(scheme):
        return (
            "must use https, http on 127.0.0.1 or localhost, or a private-use scheme named "
            "after a domain (com.example.app:/callback)"
        )
    return None


def _origin(value: str) -> str | None:
    parts = _parsed(value)
    if isinstance(parts, str):
        return parts
    if parts.scheme.lower() not in {"http", "https"}:
        return "must be an http or https origin"
    if value != f"{parts.scheme}://{parts.netloc}":
        return "is not an origin: scheme://host[:port] with no path, query or trailing slash"
    if value != value.lower():
        return "must be lowercase, as browsers send it"
    return _web_problem(parts)


def _web_problem(parts: SplitResult) -> str | None:
    if not parts.hostname:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "may not carry credentials"
    if parts.scheme.lower() == "http" and _host(parts) not in LOOPBACK_HOSTS:
        return "uses http, which is allowed only for 127.0.0.1 and localhost"
    return None


def _host(parts: SplitResult) -> str:
    host = (parts.hostname or "").lower()
    return f"[{host}]" if ":" in host else host
