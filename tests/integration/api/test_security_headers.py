"""Security headers on every answer, and no-store on every answer that carries a secret.

Which answers carry a secret is found from the OpenAPI document by the fields' names, not
from the mechanism that marks them (headers.Credential): a new secret field that nobody
marked is caught here. Each such operation is then called for real.
"""

import base64
import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.domain.scopes import PLATFORM_SCOPES, TENANT_SCOPES
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory
from tests.support.openapi import openapi_document
from tests.support.platform import create_operator

IssueToken = Callable[..., str]
OPENAPI = openapi_document()
# A response field whose name says secret, token or key carries a credential, but these.
SECRETLIKE = re.compile(r"token|secret|key|password")
NOT_SECRETS = {
    "token_type",  # "bearer"
    "id_token_signing_alg_values_supported",  # algorithm names
    "token_scopes",  # scope names
    "secret_prefix",  # a few characters, for recognising a secret in a list
    "password_set",  # a boolean
    "keys",  # the JWK Set's public keys
    "token_endpoint",  # a URL
    "token_endpoint_auth_methods_supported",
    "token_version",  # a counter (GET /standings)
}


def _schemas_in(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every object schema `schema` may hold (through refs, unions and arrays)."""
    ref = schema.get("$ref")
    if ref is not None:
        schema = OPENAPI["components"]["schemas"][ref.rsplit("/", 1)[1]]
    yield schema
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, ()):
            yield from _schemas_in(option)
    for nested in [schema.get("items", {}), *schema.get("properties", {}).values()]:
        if nested:
            yield from _schemas_in(nested)


def secret_operations() -> set[str]:
    found = set()
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                for media in response.get("content", {}).values():
                    names = {
                        name
                        for schema in _schemas_in(media["schema"])
                        for name in schema.get("properties", {})
                    }
                    if any(SECRETLIKE.search(n) and n not in NOT_SECRETS for n in names):
                        found.add(f"{method.upper()} {path}")
    return found


def assert_no_store(operation: str, response: httpx.Response) -> None:
    assert response.status_code in (200, 201), (operation, response.text)
    assert response.headers.get("cache-control") == "no-store", operation
    assert response.headers.get("pragma") == "no-cache", operation


def test_every_answer_carrying_a_secret_is_no_store(
    client: TestClient, db: Session, effects: Effects, settings: Settings, issue_token: IssueToken
) -> None:
    tenant = TenantFactory(slug="acme")
    owner = UserFactory(
        tenant=tenant, email="ada@acme.test", roles=[builtin_role(db, tenant, "owner")]
    )
    operator = create_operator(db, effects, settings, DEFAULT_PASSWORD)
    db.commit()
    admin = bearer(issue_token(owner, sorted(TENANT_SCOPES)))
    calls: dict[str, Callable[[], httpx.Response]] = {
        "POST /token": lambda: client.post(
            "/token",
            data={
                "grant_type": "password",
                "username": "acme/ada@acme.test",
                "password": DEFAULT_PASSWORD,
            },
        ),
        "POST /api-keys": lambda: client.post(
            "/api-keys", json={"name": "ci", "scopes": ["me"]}, headers=admin
        ),
        "POST /service-accounts": lambda: client.post(
            "/service-accounts", json={"name": "robot"}, headers=admin
        ),
        "POST /users": lambda: client.post(
            "/users", json={"email": "new@acme.test", "invite": True}, headers=admin
        ),
        "POST /tenants": lambda: client.post(
            "/tenants",
            json={
                "slug": "globex",
                "name": "Globex",
                "owner": {"email": "boss@globex.test", "invite": True},
            },
            headers=bearer(issue_token(operator, sorted(PLATFORM_SCOPES))),
        ),
        "POST /clients": lambda: client.post(
            "/clients",
            json={"client_id": "web", "name": "Web", "type": "confidential", "grant_types": []},
            headers=bearer(issue_token(operator, sorted(PLATFORM_SCOPES))),
        ),
    }
    assert secret_operations() == set(calls), "a new answer with a secret: add its call"
    for operation, call in calls.items():
        assert_no_store(operation, call())


def test_an_answer_without_its_secret_stays_cacheable(
    client: TestClient, db: Session, issue_token: IssueToken
) -> None:
    tenant = TenantFactory()
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    created = client.post(
        "/users",
        json={"email": "pw@example.test", "password": "violet otters juggle lanterns"},
        headers=bearer(issue_token(owner, sorted(TENANT_SCOPES))),
    )
    assert created.status_code == 201, created.text
    assert created.json()["invitation"] is None
    assert "cache-control" not in created.headers


def assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff", response.request.url
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/docs/static/swagger-ui-bundle.js", 200),
        ("GET", "/no-such-thing", 404),
        ("DELETE", "/users", 405),
        ("GET", "/me", 401),
        ("POST", "/invitations/accept", 422),
        ("POST", "/token", 400),
    ],
)
def test_every_answer_has_the_security_headers(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status, response.text
    assert_security_headers(response)


def test_an_api_answer_may_load_and_run_nothing(client: TestClient) -> None:
    csp = client.get("/healthz").headers["content-security-policy"]
    assert csp == "default-src 'none'; frame-ancestors 'none'"


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_the_docs_pages_run_only_their_own_scripts(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert_security_headers(response)
    directives = {
        name: sources
        for name, _, sources in (
            part.partition(" ") for part in response.headers["content-security-policy"].split("; ")
        )
    }
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    sources = directives["script-src"].split()
    assert "'unsafe-inline'" not in sources
    assert "'unsafe-eval'" not in sources
    # Each inline script the page holds is allowed by its hash, and nothing else inline.
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    hashes = {
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in inline
    }
    assert {s for s in sources if s.startswith("'sha256-")} == hashes
    assert (path == "/redoc") == (not inline)
