"""A stand-in issuer on 127.0.0.1: real HTTP, serving RFC 8414 metadata and a JWKS.

The kit's own tests need no Tessera: they need an issuer whose keys they hold, and to
count how often the kit fetches the JWKS.
"""

import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Security
from fastapi.testclient import TestClient
from tessera_fastapi import TesseraCaller, TesseraGuard

AUDIENCE = "https://api.example.test/projects"
KID = "key-1"
SCOPES = {"projects:read": "Read projects", "projects:write": "Change projects"}


@dataclass
class Issuer:
    url: str
    key: Ed25519PrivateKey
    requests: list[str] = field(default_factory=list)
    # Published keys by kid; `key` signs as KID unless a token names another.
    keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    # What POST /introspect answers for a token (RFC 7662 `active`); None: a 500.
    active: dict[str, bool | None] = field(default_factory=dict)
    # True: GET /standings/stream opens, says it is following, then stays silent (no
    # heartbeat) until the issuer stops. False: the stream is down (404).
    stream_open: bool = False
    # Seconds the JWKS takes to answer: requests arrive while a fetch is under way.
    jwks_delay: float = 0.0
    released: threading.Event = field(default_factory=threading.Event)

    def jwks(self) -> dict[str, Any]:
        time.sleep(self.jwks_delay)
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
        scope: str = "projects:read",
        headers: dict[str, Any] | None = None,
        key: Any = None,
        algorithm: str = "EdDSA",
        kid: str = KID,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": self.url,
            "aud": AUDIENCE,
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


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    found = Issuer(url=url, key=Ed25519PrivateKey.generate())
    documents: dict[str, Callable[[], Any]] = {
        "/.well-known/oauth-authorization-server": lambda: {
            "issuer": url,
            "token_endpoint": f"{url}/token",
            "jwks_uri": f"{url}/.well-known/jwks.json",
            "introspection_endpoint": f"{url}/introspect",
            "standings_endpoint": f"{url}/standings",
        },
        # The snapshot answers; the stream is down unless `stream_open`.
        "/standings": lambda: {"cursor": "0-0", "tenants": []},
        "/.well-known/jwks.json": found.jwks,
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found.requests.append(self.path)
            if self.path == "/standings/stream" and found.stream_open:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(b": following\n\n")
                self.wfile.flush()
                found.released.wait(60)
                return
            document = documents.get(self.path)
            body = json.dumps(document() if document else {"error": "not_found"}).encode()
            self.send_response(200 if document else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            found.requests.append(self.path)
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            status = 404
            document: dict[str, Any] = {"error": "not_found"}
            if self.path == "/token":
                status, document = 200, {"access_token": "feed-token", "expires_in": 900}
            elif self.path == "/introspect":
                active = found.active.get(form["token"][0])
                status, document = (500, {}) if active is None else (200, {"active": active})
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server.RequestHandlerClass = Handler
    # A short poll: shutdown() waits for the loop to look, once per interval.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield found
    found.released.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def guard(issuer: Issuer) -> TesseraGuard:
    return TesseraGuard(issuer=issuer.url, audience=AUDIENCE, scopes=SCOPES, leeway=5)


@pytest.fixture
def client(guard: TesseraGuard) -> Iterator[TestClient]:
    with TestClient(app_for(guard)) as test_client:
        yield test_client


def app_for(guard: TesseraGuard) -> FastAPI:
    app = FastAPI(lifespan=guard.lifespan)
    reader = Annotated[TesseraCaller, Security(guard, scopes=["projects:read"])]
    writer = Annotated[TesseraCaller, Security(guard, scopes=["projects:write"])]

    @app.get("/projects")
    def projects(caller: reader) -> dict[str, Any]:
        return {
            "subject": str(caller.subject),
            "tenant_id": str(caller.tenant_id),
            "scopes": sorted(caller.scopes),
            "token_id": caller.token_id,
        }

    @app.post("/projects")
    def create(caller: writer) -> dict[str, str]:
        return {"subject": str(caller.subject)}

    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
