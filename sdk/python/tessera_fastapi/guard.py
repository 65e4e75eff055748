"""TesseraGuard: a FastAPI security dependency that admits Tessera access tokens.

    guard = TesseraGuard(issuer="http://127.0.0.1:8000", audience="https://api.example.com/projects")
    Caller = Annotated[TesseraCaller, Security(guard, scopes=["projects:read"])]

Each request is verified locally (no call to Tessera): the signature by the JWKS held
since start-up, the header (`typ` at+jwt, an asymmetric `alg`, a known `kid`), `iss`,
`aud`, `exp` and `nbf` with a small leeway, the route's scopes, and then the subject's
standing as last heard on the standings feed. What happens when the feed is lost is
set by `introspect_on_feed_loss` and `grace_seconds`; see docs/resource-servers.md.
"""

import inspect
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.security import OAuth2AuthorizationCodeBearer, SecurityScopes

from tessera_fastapi.keys import ASYMMETRIC_ALGORITHMS, KeySet, Metadata, VerificationKey
from tessera_fastapi.standings import FeedFollower, Standings

logger = logging.getLogger("tessera_fastapi")

ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
FEED_SCOPE = "standings:read"
# Verified tokens a guard remembers (each well under 1 KiB with its claims): a client
# sends the same access token with every request for its lifetime.
VERIFIED_TOKENS = 4096
USER = "user"


@dataclass(frozen=True, slots=True)
class TesseraCaller:
    """Who called: the token's subject, their tenant and scopes, and every claim."""

    subject: uuid.UUID
    tenant_id: uuid.UUID
    scopes: frozenset[str]
    token_id: str
    claims: Mapping[str, Any] = field(repr=False)

    @property
    def kind(self) -> str:
        """ "user", or "service_account" for a client-credentials token."""
        return str(self.claims.get("kind", USER))


def _unauthorized(description: str) -> HTTPException:
    # RFC 6750 §3.1, as Tessera's own guard answers.
    return HTTPException(
        status_code=401,
        detail={"error": "invalid_token", "error_description": description},
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'
        },
    )


def _forbidden(missing: list[str]) -> HTTPException:
    scope = " ".join(missing)
    return HTTPException(
        status_code=403,
        detail={"error": "insufficient_scope", "error_description": f"requires {scope}"},
        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
    )


def _unavailable() -> HTTPException:
    # Fail closed: no standing can be vouched for, so nothing is admitted.
    return HTTPException(
        status_code=503,
        detail={
            "error": "temporarily_unavailable",
            "error_description": "the caller's standing cannot be checked with Tessera",
        },
        headers={"Retry-After": "5"},
    )


class TesseraGuard:
    """Use with `Security(guard, scopes=[...])`. Start it in the app's lifespan
    (`FastAPI(lifespan=guard.lifespan)`, or `guard.start()` / `guard.close()`); a guard
    not started starts on its first request.

    `client_id` / `client_secret`: a platform service account holding `standings:read`
    for the feed and `tokens:introspect` for introspection. Without them the guard
    verifies tokens only, and a cut-off reaches this service when the token expires.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        scopes: Mapping[str, str] | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        leeway: float = 30.0,
        jwks_refetch_seconds: float = 60.0,
        introspect_on_feed_loss: bool = True,
        grace_seconds: float = 60.0,
        introspection_ttl: float = 10.0,
        feed_read_timeout: float = 45.0,
        feed_reconnect_seconds: float = 1.0,
        standings_url: str | None = None,
        http_timeout: float = 5.0,
    ) -> None:
        self.issuer_url = issuer.rstrip("/")
        self.audience = audience
        self.leeway = leeway
        self.introspect_on_feed_loss = introspect_on_feed_loss
        self.grace_seconds = grace_seconds
        self._introspection_ttl = introspection_ttl
        self._jwks_refetch = jwks_refetch_seconds
        self._feed_read_timeout = feed_read_timeout
        self._feed_reconnect = feed_reconnect_seconds
        self._standings_url = standings_url
        self._credentials = (
            httpx.BasicAuth(client_id, client_secret) if client_id and client_secret else None
        )
        self._http = httpx.Client(timeout=http_timeout)
        self._start_lock = threading.Lock()
        self._token_lock = threading.Lock()
        self.metadata: Metadata | None = None
        self.keys: KeySet | None = None
        self.standings = Standings()
        self.follower: FeedFollower | None = None
        self._feed_token: tuple[str, float] | None = None
        # While the feed is lost: (tenant, kind, subject, version) -> (active, when asked).
        self._introspected: dict[tuple[str, str, str, int], tuple[bool, float]] = {}
        # Tokens verified before, by their text (see _recall).
        self._verified: dict[str, _Verified] = {}
        self._verified_lock = threading.Lock()
        # The OpenAPI scheme: /docs' Authorize signs in on Tessera's hosted page with the
        # authorization code flow and PKCE (the URLs set from the metadata at start-up;
        # the issuer's /authorize and /token until then). Not the password flow: Swagger
        # UI cannot add `resource` to a token request, and a token without it is for
        # Tessera's own API, which this guard refuses. See swagger_ui_init_oauth.
        self.scheme = OAuth2AuthorizationCodeBearer(
            authorizationUrl=f"{self.issuer_url}/authorize",
            tokenUrl=f"{self.issuer_url}/token",
            scopes=dict(scopes or {}),
            scheme_name="Tessera",
            description=f"Tessera access tokens for {audience}",
            auto_error=False,
        )
        model = self.scheme.model
        self._flow = model.flows.authorizationCode if isinstance(model, OAuth2Model) else None
        # FastAPI reads a dependency's parameters from its signature: this one's asks for
        # the bearer token through the scheme above, which puts the scheme in OpenAPI.
        self.__signature__ = inspect.Signature(
            [
                inspect.Parameter(
                    "security_scopes", inspect.Parameter.KEYWORD_ONLY, annotation=SecurityScopes
                ),
                inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
                inspect.Parameter(
                    "token",
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=Annotated[str | None, Depends(self.scheme)],
                ),
            ]
        )

    def swagger_ui_init_oauth(self, client_id: str) -> dict[str, Any]:
        """What `FastAPI(swagger_ui_init_oauth=...)` takes for /docs' Authorize to sign in
        as `client_id` (a public client registered with this service's
        `/docs/oauth2-redirect` and origin) with PKCE, asking for a token for this API."""
        return {
            "clientId": client_id,
            "usePkceWithAuthorizationCodeGrant": True,
            "additionalQueryStringParams": {"resource": self.audience},
        }

    # Start-up and shutdown

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(self.start)
        try:
            yield
        finally:
            await run_in_threadpool(self.close)

    def start(self, *, feed_wait: float = 5.0) -> None:
        """Discover Tessera (RFC 8414), fetch its keys, and start following the feed,
        waiting up to `feed_wait` seconds for the first snapshot. Raises DiscoveryError
        if Tessera's metadata or keys cannot be read: a service should not start blind."""
        with self._start_lock:
            if self.metadata is not None:
                return
            metadata = Metadata.fetch(self._http, self.issuer_url)
            keys = KeySet(self._http, metadata.jwks_uri, refetch_interval=self._jwks_refetch)
            keys.refresh()
            if self._flow is not None:
                self._flow.tokenUrl = metadata.token_endpoint
                if metadata.authorization_endpoint is not None:
                    self._flow.authorizationUrl = metadata.authorization_endpoint
            self.keys = keys
            self.metadata = metadata
            if self._credentials is not None:
                snapshot_url = self._standings_url or metadata.standings_endpoint
                snapshot_url = snapshot_url or f"{self.issuer_url}/standings"
                self.follower = FeedFollower(
                    self._http,
                    self.standings,
                    snapshot_url=snapshot_url,
                    stream_url=f"{snapshot_url}/stream",
                    bearer=self._bearer,
                    read_timeout=self._feed_read_timeout,
                    reconnect_seconds=self._feed_reconnect,
                    on_change=self._introspected.clear,
                )
                self.follower.start(wait=feed_wait)
            else:
                logger.warning(
                    "TesseraGuard has no client credentials: tokens are verified, but a "
                    "cut-off reaches this service only when the token expires"
                )

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        self._http.close()

    # The dependency

    async def __call__(
        self, *, security_scopes: SecurityScopes, request: Request, token: str | None
    ) -> TesseraCaller:
        if self.metadata is None:
            await run_in_threadpool(self.start)
        if not token:
            raise _unauthorized("missing bearer token")
        verified = self._recall(token)
        if verified is None:
            # An unknown kid: the keys may have rotated. Fetched at most once per interval.
            verified = self._verify(token) or await run_in_threadpool(self._verify, token, True)
            if verified is None:
                raise _unauthorized("unknown signing key")
            self._remember(token, verified)
        caller = verified.caller
        await self._check_standing(caller, token)
        missing = [s for s in security_scopes.scopes if s not in caller.scopes]
        if missing:
            raise _forbidden(missing)
        return caller

    def _recall(self, token: str) -> "_Verified | None":
        """The token as verified before, if it was, its key is still held and it has not
        expired since: the same bytes under the same key verify the same way every time,
        so a repeat needs only the expiry check. A key gone from the JWKS (or replaced
        by a refetch) ends its tokens' places here: they are verified afresh."""
        held = self._verified.get(token)
        if held is None or self.keys is None or self.keys.get_held(held.kid) is not held.key:
            return None
        if held.expires <= time.time() - self.leeway:
            raise _unauthorized("token has expired")
        return held

    def _remember(self, token: str, verified: "_Verified") -> None:
        with self._verified_lock:
            if len(self._verified) >= VERIFIED_TOKENS:
                # The oldest first: dicts keep their insertion order.
                del self._verified[next(iter(self._verified))]
            self._verified[token] = verified

    def _verify(self, token: str, refetch: bool = False) -> "_Verified | None":
        """The full verification; None if the kid is unknown (and `refetch` is False)."""
        metadata, keys = self._discovered()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _unauthorized("malformed token") from None
        # Header members are any JSON: a list or an object is not hashable, so the type
        # is checked before the set lookup.
        typ, algorithm, kid = header.get("typ"), header.get("alg"), header.get("kid")
        if not isinstance(typ, str) or typ not in ACCESS_TOKEN_TYPES:
            raise _unauthorized("not an access token (typ)")
        if not isinstance(algorithm, str) or algorithm not in ASYMMETRIC_ALGORITHMS:
            raise _unauthorized("unacceptable signing algorithm or key id")
        if not isinstance(kid, str):
            raise _unauthorized("unacceptable signing algorithm or key id")
        key = keys.get(kid) if refetch else keys.get_held(kid)
        if key is None:
            if refetch:
                raise _unauthorized("unknown signing key")
            return None
        if key.algorithm != algorithm:
            raise _unauthorized("unacceptable signing algorithm or key id")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=metadata.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub", "tid", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("token has expired") from None
        except jwt.PyJWTError:
            raise _unauthorized("token is invalid") from None
        return _Verified(_caller(claims), kid, key, float(claims["exp"]))

    # Standing

    async def _check_standing(self, caller: TesseraCaller, token: str) -> None:
        version = caller.claims.get("ver", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise _unauthorized("token is invalid")
        key = (str(caller.tenant_id), caller.kind, str(caller.subject))
        refusal = self.standings.refusal(*key, version)
        if refusal is not None:
            raise _unauthorized(refusal)
        follower = self.follower
        if follower is None or follower.live:
            return
        within_grace = time.monotonic() - follower.lost_since < self.grace_seconds
        if self.introspect_on_feed_loss:
            active = await run_in_threadpool(self._introspect, (*key, version), token)
            if active is not None:
                if not active:
                    raise _unauthorized("token is not active")
                return
        if not within_grace:
            raise _unavailable()

    def _introspect(self, key: tuple[str, str, str, int], token: str) -> bool | None:
        """RFC 7662, once per subject and version while the feed is lost (kept for
        `introspection_ttl` seconds). None if Tessera could not be asked."""
        now = time.monotonic()
        held = self._introspected.get(key)
        if held is not None and now - held[1] < self._introspection_ttl:
            return held[0]
        endpoint = self._discovered()[0].introspection_endpoint
        if endpoint is None or self._credentials is None:
            return None
        try:
            response = self._http.post(endpoint, data={"token": token}, auth=self._credentials)
            response.raise_for_status()
            active = response.json().get("active") is True
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        self._introspected[key] = (active, now)
        return active

    def _discovered(self) -> tuple[Metadata, KeySet]:
        if self.metadata is None or self.keys is None:
            raise RuntimeError("TesseraGuard.start() has not run")
        return self.metadata, self.keys

    def _bearer(self) -> str:
        """The feed's access token (client credentials), renewed a minute before expiry."""
        metadata = self._discovered()[0]
        if self._credentials is None:
            raise RuntimeError("the feed needs client credentials")
        with self._token_lock:
            held = self._feed_token
            if held is not None and held[1] - time.monotonic() > 60:
                return held[0]
            response = self._http.post(
                metadata.token_endpoint,
                data={"grant_type": "client_credentials", "scope": FEED_SCOPE},
                auth=self._credentials,
            )
            response.raise_for_status()
            body = response.json()
            self._feed_token = (
                str(body["access_token"]),
                time.monotonic() + float(body.get("expires_in", 300)),
            )
            return self._feed_token[0]


@dataclass(frozen=True, slots=True)
class _Verified:
    """A verified token: its caller, the key that verified it, and when it expires."""

    caller: TesseraCaller
    kid: str
    key: VerificationKey
    expires: float


def _caller(claims: dict[str, Any]) -> TesseraCaller:
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise _unauthorized("token is invalid")
    try:
        return TesseraCaller(
            subject=uuid.UUID(str(claims["sub"])),
            tenant_id=uuid.UUID(str(claims["tid"])),
            scopes=frozenset(scope.split()),
            token_id=str(claims["jti"]),
            # Read-only: one caller serves every request that presents the same token.
            claims=MappingProxyType(claims),
        )
    except (KeyError, ValueError):
        raise _unauthorized("token is invalid") from None
