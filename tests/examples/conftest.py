"""The projects example against real PostgreSQL, with tokens from a stand-in issuer.

Tokens for a product API (`resource=`) come from Tessera once product APIs land; until
then a stand-in on 127.0.0.1 serves RFC 8414 metadata and a JWKS, as the kit's own tests
do, and signs tokens for the example's audience.
"""

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from examples.projects.app import create_app
from examples.projects.settings import ApiDeclaration, ProjectsSettings
from tests.support.projects import projects_database


@dataclass
class StandInIssuer:
    url: str
    key: Ed25519PrivateKey

    def token(self, tenant_id: uuid.UUID, scope: str, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": self.url,
            "aud": ApiDeclaration.load().identifier,
            "sub": str(uuid.uuid4()),
            "tid": str(tenant_id),
            "scope": scope,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 300,
            "ver": 1,
            **claims,
        }
        headers = {"typ": "at+jwt", "kid": "stand-in"}
        return jwt.encode(payload, self.key, algorithm="EdDSA", headers=headers)


@pytest.fixture(scope="session")
def issuer() -> Iterator[StandInIssuer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    found = StandInIssuer(url=url, key=Ed25519PrivateKey.generate())
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(found.key.public_key()))
    documents = {
        "/.well-known/oauth-authorization-server": {
            "issuer": url,
            "token_endpoint": f"{url}/token",
            "jwks_uri": f"{url}/.well-known/jwks.json",
        },
        "/.well-known/jwks.json": {"keys": [{**jwk, "kid": "stand-in", "alg": "EdDSA"}]},
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            document = documents.get(self.path)
            body = json.dumps(document or {"error": "not_found"}).encode()
            self.send_response(200 if document else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server.RequestHandlerClass = Handler
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield found
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def projects_settings(
    request: pytest.FixtureRequest, admin_database_url: str, issuer: StandInIssuer
) -> Iterator[ProjectsSettings]:
    """The example's own database, migrated by its own Alembic migrations."""
    workerinput = getattr(request.config, "workerinput", {})
    name = f"projects_test_{uuid.uuid4().hex[:8]}_{workerinput.get('workerid', 'main')}"
    with projects_database(
        admin_database_url, name, issuer=issuer.url, discovery_wait_seconds=0
    ) as found:
        yield found


@pytest.fixture
def projects_owner(projects_settings: ProjectsSettings) -> Iterator[Engine]:
    """The owner's engine; empties the table after each test."""
    engine = create_engine(projects_settings.migration_database_url, poolclass=NullPool)
    yield engine
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE projects"))
    engine.dispose()


@pytest.fixture
def service(projects_settings: ProjectsSettings, projects_owner: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(projects_settings)) as client:
        yield client
