"""Tessera's metadata and signing keys, as a resource server needs them.

The JWKS is fetched at start-up and kept. A token naming a `kid` the set lacks may be
signed by a key Tessera has just added, so the set is fetched again; but at most once
per `refetch_interval`, so a flood of tokens with made-up kids costs Tessera one request
per interval, not one per token.
"""

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

# Asymmetric algorithms only: a verifier that accepted HS256 could be handed a token
# "signed" with the public key itself as the HMAC secret.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
# RFC 8414 §3: the metadata lives under the issuer's URL.
METADATA_PATH = "/.well-known/oauth-authorization-server"


class DiscoveryError(Exception):
    """Tessera's metadata or keys could not be read, or are not what a kit can use."""


@dataclass(frozen=True, slots=True)
class Metadata:
    """The parts of Tessera's RFC 8414 metadata the kit uses."""

    issuer: str
    token_endpoint: str
    jwks_uri: str
    authorization_endpoint: str | None
    introspection_endpoint: str | None
    standings_endpoint: str | None

    @classmethod
    def fetch(cls, http: httpx.Client, issuer_url: str) -> "Metadata":
        url = issuer_url.rstrip("/") + METADATA_PATH
        try:
            response = http.get(url)
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            return cls(
                issuer=str(body["issuer"]),
                token_endpoint=str(body["token_endpoint"]),
                jwks_uri=str(body["jwks_uri"]),
                authorization_endpoint=body.get("authorization_endpoint"),
                introspection_endpoint=body.get("introspection_endpoint"),
                standings_endpoint=body.get("standings_endpoint"),
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise DiscoveryError(f"cannot read {url}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class VerificationKey:
    key: Any
    algorithm: str


class KeySet:
    """The issuer's public keys by kid, refetched on an unknown kid at most once per
    interval. Thread-safe: requests look keys up while a refetch may be under way."""

    def __init__(self, http: httpx.Client, jwks_uri: str, *, refetch_interval: float) -> None:
        self._http = http
        self._uri = jwks_uri
        self._interval = refetch_interval
        self._lock = threading.Lock()
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at: float | None = None
        # How many times the set was fetched: the bogus-kid tests count them.
        self.fetches = 0

    def refresh(self) -> None:
        """Fetch the set now (start-up); raises DiscoveryError if it cannot be read."""
        with self._lock:
            self._fetch()

    def get_held(self, kid: str) -> VerificationKey | None:
        """The key for `kid` if held: the hot path, no I/O and no lock."""
        return self._keys.get(kid)

    def get(self, kid: str) -> VerificationKey | None:
        """The key for `kid`; an unknown kid refetches the set unless one was fetched
        within the interval. None if the kid is still unknown."""
        found = self._keys.get(kid)
        if found is not None:
            return found
        with self._lock:
            found = self._keys.get(kid)
            due = self._fetched_at is None or time.monotonic() - self._fetched_at >= self._interval
            if found is None and due:
                try:
                    self._fetch()
                except DiscoveryError:
                    # Tessera unreachable: the keys already held still verify.
                    return None
                found = self._keys.get(kid)
            return found

    def _fetch(self) -> None:
        # Counted as a try, success or not, so an unreachable Tessera is not hammered either.
        self._fetched_at = time.monotonic()
        self.fetches += 1
        try:
            response = self._http.get(self._uri)
            response.raise_for_status()
            listed = response.json()["keys"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise DiscoveryError(f"cannot read {self._uri}: {exc}") from exc
        keys: dict[str, VerificationKey] = {}
        for entry in listed:
            algorithm = entry.get("alg")
            kid = entry.get("kid")
            if algorithm not in ASYMMETRIC_ALGORITHMS or not isinstance(kid, str):
                continue
            try:
                parsed = jwt.PyJWK(entry, algorithm)
            except jwt.PyJWTError:
                continue
            keys[kid] = VerificationKey(key=parsed.key, algorithm=algorithm)
        # Keys Tessera stopped publishing go: a retired key verifies nothing more.
        self._keys = keys
