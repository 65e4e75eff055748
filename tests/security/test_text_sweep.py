"""Every string the API takes, from its OpenAPI document, with NUL and a lone surrogate.

Each string field of a JSON body or a form (nested objects and arrays too), and each
string path, query and header parameter, gets text PostgreSQL cannot store: a NUL, a
lone surrogate (a `\\ud800` JSON escape) and both among ordinary characters. The rest of
the request is valid, and the caller may do everything, so only that one value is wrong.

Never a 5xx, and never an exception out of the app (the in-process client raises one,
where a real server drops the connection); always our error shape, with none of the raw
value in it. A body or form field is refused for itself: 422 (400 at the OAuth routes)
naming the field. Over a real server, the same requests get an answer on the socket.
"""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.domain.scopes import PLATFORM_SCOPES, TENANT_SCOPES
from backend.main import create_app
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory
from tests.support.live_server import LiveServer, server_env, start_server
from tests.support.platform import create_operator

pytestmark = pytest.mark.security

OPENAPI = create_app(Settings()).openapi()
PASSWORD = "violet otters juggle lanterns"
# The smallest valid body of each request schema; the field under test replaces its
# value. A schema with a string field missing here fails the sweep: add it.
BASE_BODIES: dict[str, dict[str, object]] = {
    "TokenRequest": {"grant_type": "password", "username": "acme/x@acme.test", "password": "x"},
    "RevocationRequest": {"token": "rt_x"},
    "IntrospectionRequest": {"token": "rt_x"},
    "PasswordChange": {"current_password": DEFAULT_PASSWORD, "new_password": PASSWORD},
    "ServiceAccountCreate": {"name": "robot"},
    "ApiKeyCreate": {"name": "ci", "scopes": ["me"]},
    "UserCreate": {"email": "new@acme.test", "password": PASSWORD},
    "UserUpdate": {},
    "UserDisable": {},
    "InvitationAccept": {"token": "iv_x", "password": PASSWORD},
    "BulkDisableRequest": {"user_ids": [str(uuid.uuid4())]},
    "TenantCreate": {
        "slug": "globex",
        "name": "Globex",
        "owner": {"email": "boss@globex.test", "password": PASSWORD},
    },
    "OwnerCreate": {"email": "boss@globex.test", "password": PASSWORD},
    "TenantUpdate": {"name": "Acme"},
    "RoleCreate": {"name": "sweeper"},
    "RoleUpdate": {},
    "GrantRequest": {},
    "ApiCreate": {"identifier": "https://api.example.com/sweep", "name": "Sweep"},
    "ApiUpdate": {},
    "ClientCreate": {
        "client_id": "sweep",
        "name": "Sweep",
        "type": "public",
        "redirect_uris": ["https://app.acme.test/cb"],
    },
    "ClientUpdate": {},
    "TotpStart": {},
    "TotpConfirm": {"code": "123456"},
    "WebauthnStart": {},
    "WebauthnCredential": {"id": "x", "rawId": "x", "type": "public-key", "response": {}},
    "MfaWebauthnStart": {"mfa_token": "mf_x"},
    "PasswordResetRequest": {"tenant": "acme", "email": "x@acme.test"},
    "PasswordResetConfirm": {"token": "pr_x", "new_password": PASSWORD},
    "EmailVerificationConfirm": {"token": "ev_x"},
}
# Text the database cannot hold; the last one has an ordinary prefix, as a real
# attacker's input would, so a check of the first character only is caught.
BAD_TEXT = ["\x00", "\ud800", "ok\udfffok", "a\x00b"]
# What a URL, a form or a header can carry (no surrogate survives their decoding).
BAD_WIRE_TEXT = ["\x00", "a\x00b"]


@dataclass(frozen=True)
class Target:
    method: str
    path: str
    # "path", "query", "header", or the body schema's name.
    where: str
    # Where the field is: its name, within the objects and arrays (an int) around it.
    field: tuple[str | int, ...]
    form: bool = False

    def __str__(self) -> str:
        name = ".".join(str(part) for part in self.field)
        return f"{self.method.upper()} {self.path} {self.where}.{name}"


def _resolve(schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    ref = schema.get("$ref")
    if ref is None:
        return None, schema
    name = ref.rsplit("/", 1)[1]
    resolved: dict[str, Any] = OPENAPI["components"]["schemas"][name]
    return name, resolved


def _options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [schema, *schema.get("anyOf", ()), *schema.get("oneOf", ())]


def _is_string(schema: dict[str, Any]) -> bool:
    return any(_resolve(option)[1].get("type") == "string" for option in _options(schema))


def _string_fields(
    schema: dict[str, Any], prefix: tuple[str | int, ...] = ()
) -> Iterator[tuple[str | int, ...]]:
    """Where the strings of an object schema are: plain, in arrays, in nested objects."""
    for name, spec in schema.get("properties", {}).items():
        here = (*prefix, name)
        if _is_string(spec):
            yield here
        for option in _options(spec):
            items = option.get("items")
            if items is not None and _is_string(items):
                yield (*here, 0)
            ref_name, nested = _resolve(option)
            if ref_name is not None and nested.get("type") == "object":
                yield from _string_fields(nested, here)


def text_targets() -> list[Target]:
    targets = []
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if _is_string(parameter["schema"]):
                    targets.append(Target(method, path, parameter["in"], (parameter["name"],)))
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                for option in _options(content["schema"]):
                    name, schema = _resolve(option)
                    if name is None:
                        continue
                    for field in _string_fields(schema):
                        form = media == "application/x-www-form-urlencoded"
                        targets.append(Target(method, path, name, field, form))
    return targets


TARGETS = text_targets()


def test_the_sweep_finds_every_kind_of_string_input() -> None:
    """Guards the discovery itself: a sweep over nothing passes vacuously."""
    found = {str(t) for t in TARGETS}
    assert found >= {
        "POST /token TokenRequest.username",
        "POST /token header.user-agent",
        "POST /revoke RevocationRequest.token",
        "POST /invitations/accept InvitationAccept.token",
        "POST /tenants TenantCreate.owner.email",
        "POST /roles RoleCreate.scopes.0",
        "GET /users query.email_prefix",
        "GET /users/{id} path.id",
        "GET /audit-events query.actor",
    }
    # Every body schema that has a string has a base body here.
    assert {t.where for t in TARGETS if t.where[0].isupper()} <= set(BASE_BODIES)


def _declared(target: Target) -> dict[str, Any]:
    """The schema OpenAPI states for the target."""
    operation = OPENAPI["paths"][target.path][target.method]
    if target.where in BASE_BODIES:
        schema = _resolve({"$ref": f"#/components/schemas/{target.where}"})[1]
        for step in target.field:
            if isinstance(step, int):
                schema = next(o for o in _options(schema) if "items" in o)["items"]
            else:
                schema = schema["properties"][step]
            schema = _resolve(schema)[1]
        return schema
    (parameter,) = [p for p in operation["parameters"] if p["name"] == target.field[0]]
    declared: dict[str, Any] = parameter["schema"]
    return declared


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_every_string_input_is_bounded(target: Target) -> None:
    """A length, a list of values, or a format that bounds it (a UUID, a date-time)."""
    for option in _options(_declared(target)):
        schema = _resolve(option)[1]
        if schema.get("type") == "string":
            bounds = {"maxLength", "enum"} & set(schema)
            assert bounds or schema.get("format") in ("uuid", "date-time"), schema


@dataclass(frozen=True)
class Callers:
    tenant_admin: dict[str, str]
    operator: dict[str, str]
    user_id: uuid.UUID
    role_id: uuid.UUID


@pytest.fixture
def callers(db: Session, effects: Effects, settings: Settings, issue_token: Any) -> Callers:
    tenant = TenantFactory(slug="acme")
    owner = UserFactory(
        tenant=tenant, email="ada@acme.test", roles=[builtin_role(db, tenant, "owner")]
    )
    user = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "member")])
    operator = create_operator(db, effects, settings, DEFAULT_PASSWORD)
    db.commit()
    return Callers(
        tenant_admin=bearer(issue_token(owner, sorted(TENANT_SCOPES))),
        operator=bearer(issue_token(operator, sorted(PLATFORM_SCOPES))),
        user_id=user.id,
        role_id=builtin_role(db, tenant, "auditor").id,
    )


def _placed(body: object, field: tuple[str | int, ...], value: str) -> object:
    """`body` with `value` at `field` (a list for an int step)."""
    if not field:
        return value
    head, rest = field[0], field[1:]
    if isinstance(head, int):
        return [_placed(None, rest, value)]
    inner = body.get(head) if isinstance(body, dict) else None
    base = BASE_BODIES.get(str(head), {}) if inner is None else inner
    return {**(body if isinstance(body, dict) else {}), head: _placed(base, rest, value)}


def build(target: Target, callers: Callers, value: str) -> httpx.Request:
    """The request with `value` at the target and everything else valid."""
    scopes = {
        scope
        for requirement in OPENAPI["paths"][target.path][target.method].get("security", [])
        for scopes in requirement.values()
        for scope in scopes
    }
    headers = callers.operator if scopes & PLATFORM_SCOPES else callers.tenant_admin
    ids = {"id": str(callers.user_id), "role_id": str(callers.role_id)}
    if target.where == "path":
        ids[str(target.field[0])] = quote(value, safe="")
    url = target.path.format(**ids)
    params = {str(target.field[0]): value} if target.where == "query" else {}
    if target.where == "header":
        headers = {**headers, str(target.field[0]): value}
    content: bytes | None = None
    if target.where in BASE_BODIES:
        body = _placed(BASE_BODIES[target.where], target.field, value)
        if target.form:
            assert isinstance(body, dict)
            # A list field is its key repeated, as a form sends one (RFC 8707 `resource`).
            content = urlencode(body, doseq=True).encode()
            headers = {**headers, "content-type": "application/x-www-form-urlencoded"}
        else:
            # ASCII JSON: a lone surrogate travels as its `\ud800` escape, as a client sends it.
            content = json.dumps(body).encode()
            headers = {**headers, "content-type": "application/json"}
    return httpx.Request(
        target.method.upper(),
        f"http://testserver{url}",
        params=params,
        headers=headers,
        content=content,
    )


def check(target: Target, value: str, response: httpx.Response) -> str | None:
    """Why this answer is wrong, or None."""
    shown = f"{value!r}: {response.status_code} {response.text[:200]}"
    if not 400 <= response.status_code < 500:
        return shown
    body = response.json()
    if set(body) < {"error", "error_description"}:
        return f"{shown} (not our error shape)"
    if any(char in response.text for char in "\x00\ud800\udfff"):
        return f"{shown} (the raw value is echoed)"
    if target.where in BASE_BODIES:
        expected = 400 if target.path in ("/token", "/revoke", "/introspect") else 422
        name = str(target.field[-1] if isinstance(target.field[-1], str) else target.field[-2])
        if response.status_code != expected or name not in body["error_description"]:
            return f"{shown} (not a {expected} naming {name})"
    return None


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_text_that_cannot_be_stored_is_refused_with_a_reason(
    client: TestClient, callers: Callers, target: Target
) -> None:
    values = BAD_TEXT if target.where in BASE_BODIES and not target.form else BAD_WIRE_TEXT
    failures = []
    for value in values:
        response = client.send(build(target, callers, value))
        problem = check(target, value, response)
        if problem is not None:
            failures.append(problem)
    assert failures == [], f"{target}:\n" + "\n".join(failures)


@pytest.fixture(scope="module")
def live(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("text-sweep")
    server = start_server(server_env(settings, directory / "var"), directory / "api.log")
    yield server
    server.stop()


def test_over_a_real_server_every_body_field_gets_an_answer(
    live: LiveServer, callers: Callers
) -> None:
    """The first report, over TCP: a surrogate escape in any JSON body field (the
    unauthenticated POST /invitations/accept among them) got a 500 and a dropped
    connection. Each now gets its answer, and the server logs no traceback."""
    failures = []
    with httpx.Client(base_url=live.url, timeout=10) as http:
        for target in TARGETS:
            if target.where not in BASE_BODIES or target.form:
                continue
            request = build(target, callers, "\ud800")
            response = http.request(
                request.method,
                request.url.raw_path.decode(),
                content=request.content,
                headers=dict(request.headers),
            )
            problem = check(target, "\ud800", response)
            if problem is not None:
                failures.append(f"{target}: {problem}")
    assert failures == []
    assert "Traceback" not in live.output()


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer \x00"},
        {"Authorization": "Bearer a\x00b.c\x00d.e"},
        {"X-API-Key": "\x00"},
        {"X-API-Key": f"ak_{uuid.uuid4().hex}_\x00{'A' * 42}"},
        {"Authorization": "Basic AA==", "X-Request-ID": "\x00"},
    ],
    ids=["bearer-nul", "jwt-nul", "api-key-nul", "api-key-shaped-nul", "request-id-nul"],
)
def test_credentials_headers_with_nul_are_refused_as_credentials(
    client: TestClient, headers: dict[str, str]
) -> None:
    """The headers every guarded route reads, outside any route's parameters."""
    response = client.get("/me", headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    assert "\x00" not in response.headers.get("x-request-id", "")
