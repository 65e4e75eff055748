"""A stand-in Tessera for a guarded service's tests: real HTTP on 127.0.0.1.

It serves RFC 8414 metadata, a JWKS of Ed25519 keys it holds, a token for a feed client
at POST /token, POST /introspect and the standings snapshot (an empty one; the stream is
down unless `stream_open`), and signs access tokens for your API with `token()`:

    with StandInIssuer(audience="https://api.example.com/projects") as issuer:
        guard = TesseraGuard(issuer=issuer.url, audience=issuer.audience, scopes=...)
        headers = {"Authorization": f"Bearer {issuer.token(scope='projects:read')}"}

No Tessera, PostgreSQL or Redis needed; the guard verifies what it signs as it would
Tessera's tokens.
"""

import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KID = "key-1"
# How long a stopping server waits for its loop to look: shutdown() waits one interval.
_POLL_SECONDS = 0.05
# How long an open standings stream stays silent at most.
_STREAM_HOLD_SECONDS = 60.0


class StandInIssuer:
    """Start it with `with` (or start() / stop()); `url` is known once started."""

    def __init__(self, *, audience: str) -> None:
        self.audience = audience
        # Signs as KID unless a token names another published key.
        self.key = Ed25519PrivateKey.generate()
        # More published keys by kid (see rotate()).
        self.keys: dict[str, Ed25519PrivateKey] = {}
        # The path of every request, in order.
        self.requests: list[str] = []
        # What POST /introspect answers for a token (RFC 7662 `active`); None or absent: 500.
        self.active: dict[str, bool | None] = {}
        # True: GET /standings/stream opens, says it is following, then stays silent (no
        # heartbeat) until the issuer stops. False: the stream is down (404).
        self.stream_open = False
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(_POLL_SECONDS,), daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/.well-known/jwks.json",
            "introspection_endpoint": f"{self.url}/introspect",
            "standings_endpoint": f"{self.url}/standings",
        }

    def jwks(self) -> dict[str, Any]:
        listed = []
        for kid, key in {KID: self.key, **self.keys}.items():
            jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
            listed.append({**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"})
        return {"keys": listed}

    def rotate(self) -> None:
        """Publish a second key, key-2, as Tessera does before making it current."""
        self.keys["key-2"] = Ed25519PrivateKey.generate()

    def token(
        self,
        *,
        scope: str = "",
        headers: dict[str, Any] | None = None,
        key: Any = None,
        algorithm: str = "EdDSA",
        kid: str = KID,
        **claims: Any,
    ) -> str:
        """An access token as Tessera issues one for `audience`: a random subject and
        tenant unless `sub` / `tid` are given; `claims` override any claim."""
        now = int(time.time())
        payload = {
            "iss": self.url,
            "aud": self.audience,
            "sub": str(uuid.uuid4()),
            "tid": str(uuid.uuid4()),
            "scope": scope,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 300,
            "ver": 1,
            **claims,
        }
        header = {"typ": "at+jwt", "kid": kid, **(headers or {})}
        signer = key or self.keys.get(kid, self.key)
        return jwt.encode(payload, signer, algorithm=algorithm, headers=header)

    def fetches(self, path: str) -> int:
        return self.requests.count(path)

    def answer_get(self, path: str) -> tuple[int, dict[str, Any]]:
        documents: dict[str, Callable[[], dict[str, Any]]] = {
            "/.well-known/oauth-authorization-server": self.metadata,
            "/.well-known/jwks.json": self.jwks,
            "/standings": lambda: {"cursor": "0-0", "tenants": []},
        }
        document = documents.get(path)
        return (200, document()) if document else (404, {"error": "not_found"})

    def answer_post(self, path: str, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if path == "/token":
            return 200, {"access_token": "feed-token", "token_type": "bearer", "expires_in": 900}
        if path == "/introspect":
            active = self.active.get(form.get("token", [""])[0])
            return (500, {}) if active is None else (200, {"active": active})
        return 404, {"error": "not_found"}


def _handler(issuer: StandInIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            issuer.requests.append(self.path)
            if self.path == "/standings/stream" and issuer.stream_open:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(b": following\n\n")
                self.wfile.flush()
                issuer._stopping.wait(_STREAM_HOLD_SECONDS)
                return
            self._send(*issuer.answer_get(self.path))

        def do_POST(self) -> None:
            issuer.requests.append(self.path)
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            self._send(*issuer.answer_post(self.path, form))

        def _send(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
