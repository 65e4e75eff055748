"""The authorization code flow's pure rules (RFC 6749 §4.1, RFC 7636, OpenID Connect).

What /authorize may be asked, what it answers with, and the PKCE check: nothing here
reads a database or a clock of its own.

Refusals come in two kinds (RFC 6749 §4.1.2.1): `RedirectionError` when the client or
the redirect URI cannot be trusted (the user sees an error page, and is never sent to an
unregistered URI), `AuthorizeError` for everything else, sent back to the registered
redirect URI with `error`, `error_description` and the client's `state`.
"""

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlencode, urlsplit, urlunsplit

from backend.domain.errors import DomainError

# OpenID Connect's scopes: they ask for an id_token, claims and a refresh token, not
# for access to an API, so they are not in the catalogue.
OPENID = "openid"
PROFILE = "profile"
EMAIL = "email"
OFFLINE_ACCESS = "offline_access"
OIDC_SCOPES = frozenset({OPENID, PROFILE, EMAIL, OFFLINE_ACCESS})
# The claims every id_token carries (security/id_tokens.py); email and name by scope.
ID_TOKEN_CLAIMS = (
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "tid",
    "amr",
    "acr",
)
# RFC 7636 §4.1: 43 to 128 characters of the unreserved set.
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
# BASE64URL of a SHA-256 digest, no padding: exactly 43 characters.
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
S256 = "S256"
CODE_LIFETIME_SECONDS = 60
MAX_STATE_LENGTH = 500
# The longest `max_age` taken (ten years): a longer one means the same, and the bound
# keeps the date arithmetic in range.
MAX_AGE_CEILING = 10 * 365 * 24 * 3600


class Prompt(StrEnum):
    LOGIN = "login"
    NONE = "none"


class RedirectionError(DomainError):
    """The client_id or redirect_uri is missing, unknown or not registered: shown on an
    error page, never redirected (RFC 6749 §4.1.2.1)."""


class AuthorizeError(DomainError):
    """An error sent to the client's redirect URI (RFC 6749 §4.1.2.1, OpenID Connect
    Core §3.1.2.6): `code` is the `error` parameter."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass(frozen=True, slots=True)
class RequestedScopes:
    """A `scope` parameter split: catalogue (or product) scopes, and OpenID Connect's."""

    api: tuple[str, ...]
    oidc: frozenset[str]

    @classmethod
    def parse(cls, raw: str | None) -> "RequestedScopes":
        names = list(dict.fromkeys((raw or "").split()))
        return cls(
            api=tuple(n for n in names if n not in OIDC_SCOPES),
            oidc=frozenset(n for n in names if n in OIDC_SCOPES),
        )


def check_challenge(challenge: str | None, method: str | None) -> str:
    """The PKCE challenge /authorize stores: S256 only (`plain` sends the verifier in the
    clear, RFC 9700 §2.1.1), and required of every client."""
    if not challenge:
        raise AuthorizeError("invalid_request", "code_challenge is required (PKCE, RFC 7636)")
    if method != S256:
        raise AuthorizeError(
            "invalid_request", "code_challenge_method must be S256; plain is not supported"
        )
    if not _CHALLENGE.fullmatch(challenge):
        raise AuthorizeError(
            "invalid_request", "code_challenge must be BASE64URL(SHA-256(verifier)), 43 characters"
        )
    return challenge


def parse_max_age(raw: str | None) -> int | None:
    """OpenID Connect `max_age` (Core §3.1.2.1): seconds, a non-negative integer in
    ASCII digits; larger than MAX_AGE_CEILING counts as the ceiling."""
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise AuthorizeError("invalid_request", "max_age must be a number of seconds")
    return min(int(raw), MAX_AGE_CEILING)


def verifier_matches(verifier: str | None, challenge: str) -> bool:
    """RFC 7636 §4.6: BASE64URL(SHA-256(verifier)) equals the stored challenge, compared
    in constant time; a verifier of the wrong shape never matches."""
    if verifier is None or not _VERIFIER.fullmatch(verifier):
        return False
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(computed, challenge)


def redirect_with(uri: str, params: dict[str, str | None]) -> str:
    """`uri` with `params` added to its query (RFC 6749 §4.1.2: keeping the query the
    client registered); parameters that are None are left out."""
    parts = urlsplit(uri)
    added = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit(parts._replace(query=query))


def half_hash(token: str, algorithm: str) -> str:
    """OpenID Connect `at_hash` (Core §3.1.3.6): the left half of the access token's hash
    under the signature's hash, base64url: SHA-256 for RS256, SHA-512 for EdDSA (Ed25519
    hashes with SHA-512, as OpenID's EdDSA profile and Authlib have it)."""
    hasher = hashlib.sha512 if algorithm == "EdDSA" else hashlib.sha256
    digest = hasher(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")
