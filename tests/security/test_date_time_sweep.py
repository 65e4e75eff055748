"""Every date-time the API takes, from its OpenAPI document, against extreme values.

Each date-time field of a JSON body and each date-time query parameter gets years 1 and
9999 in the furthest time zones, year 10000, leap seconds, huge offsets, naive times,
NUL, Unix numbers and garbage. Never a 5xx; a malformed or unrepresentable value is a
422; and whatever is accepted, everything that reads it back answers (the grant, GET /me,
the revocation, the key list, the job that runs later).
"""

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from backend.db.engine import Database
from backend.db.models import Role, Tenant, User
from backend.domain.moments import MAX_EXPIRY_AHEAD
from backend.domain.scopes import TENANT_SCOPES
from backend.services import job_runner
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import TenantFactory, UserFactory
from tests.support.openapi import openapi_document

pytestmark = pytest.mark.security

OPENAPI = openapi_document()
# The smallest valid body of each request schema that has a date-time field; the field
# under test is added to it. A schema missing here fails the sweep: add it.
BASE_BODIES: dict[str, dict[str, object]] = {
    "GrantRequest": {},
    "ApiKeyCreate": {"name": "sweep", "scopes": ["me"]},
    "BulkDisableRequest": {},
}

# Moments Python can hold (in UTC): a field may take them, or refuse them by its own rule
# (an expiry in the past is 400, one beyond the horizon 422).
REPRESENTABLE: list[object] = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00-23:59",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999999999+00:00",
    "2030-01-01t00:00:00z",
]
# Anything else: always a 422.
REFUSED: list[object] = [
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+14:00",
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "+275760-09-13T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "2030-06-30T23:59:60Z",
    "2030-01-01T00:00:00+24:00",
    "2030-01-01T00:00:00+99:99",
    "2030-01-01T00:00:00-05:60",
    "2030-01-01T00:00:00",
    "2030-01-01",
    "00:00:00Z",
    "2030-02-30T00:00:00Z",
    "2030-01-01T24:00:00Z",
    "2030-01-01T00:00:00\x00Z",
    "\x00",
    "",
    " ",
    "now",
    "infinity",
    "-infinity",
    "NaN",
    "1900000000",
    "١٩٧٠-01-01T00:00:00Z",
    "2030-01-01T00:00:00Z" + "0" * 10_000,
    1900000000,
    -62135596800,
    253402300800,
    1e308,
    0,
    True,
    [],
    {},
]


@dataclass(frozen=True)
class Target:
    method: str
    path: str
    # "query", or the request body schema's name.
    where: str
    field: str

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path} {self.where}.{self.field}"


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = OPENAPI["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return resolved


def _is_date_time(schema: dict[str, Any]) -> bool:
    schema = _resolve(schema)
    return schema.get("format") == "date-time" or any(
        _is_date_time(s) for key in ("anyOf", "oneOf", "allOf") for s in schema.get(key, ())
    )


def _body_schemas(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, object schema) of each schema a body may take (through anyOf and refs)."""
    for option in schema.get("anyOf", [schema]):
        ref = option.get("$ref")
        if ref is not None:
            yield ref.rsplit("/", 1)[1], _resolve(option)


def date_time_targets() -> list[Target]:
    targets = []
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and _is_date_time(parameter["schema"]):
                    targets.append(Target(method, path, "query", parameter["name"]))
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                for name, schema in _body_schemas(media["schema"]):
                    for field, spec in schema.get("properties", {}).items():
                        if _is_date_time(spec):
                            targets.append(Target(method, path, name, field))
    return targets


TARGETS = date_time_targets()


def test_the_sweep_finds_every_date_time_input_we_know_of() -> None:
    """Guards the discovery itself: a sweep over nothing passes vacuously."""
    assert {str(t) for t in TARGETS} >= {
        "PUT /users/{id}/roles/{role_id} GrantRequest.expires_at",
        "POST /api-keys ApiKeyCreate.expires_at",
        "POST /users/bulk-disable BulkDisableRequest.last_login_before",
        "GET /audit-events query.since",
        "GET /audit-events query.until",
    }


@dataclass(frozen=True)
class World:
    tenant: Tenant
    owner_token: str
    user: User
    auditor: Role
    # A token for `user` at their current token version (a bulk disable bumps it).
    user_token: Callable[[], str]


@pytest.fixture
def world(db: Session, issue_token: Callable[..., str]) -> World:
    tenant = TenantFactory(slug="acme")
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    user = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "member")])
    db.commit()

    def user_token() -> str:
        db.refresh(user)
        return issue_token(user, ["me"])

    return World(
        tenant=tenant,
        owner_token=issue_token(owner, sorted(TENANT_SCOPES)),
        user=user,
        auditor=builtin_role(db, tenant, "auditor"),
        user_token=user_token,
    )


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    database = Database.from_settings(settings)
    yield database.sessions
    database.dispose()


def send(client: TestClient, world: World, target: Target, value: object) -> httpx.Response:
    path = target.path.format(id=world.user.id, role_id=world.auditor.id)
    headers = bearer(world.owner_token)
    if target.where == "query":
        text = value if isinstance(value, str) else json.dumps(value)
        return client.request(target.method, path, params={target.field: text}, headers=headers)
    assert target.where in BASE_BODIES, f"no base body for {target}: add it to BASE_BODIES"
    body = {**BASE_BODIES[target.where], target.field: value}
    return client.request(target.method, path, json=body, headers=headers)


def read_back(
    client: TestClient,
    world: World,
    sessions: sessionmaker[Session],
    effects: Effects,
    answer: httpx.Response,
) -> None:
    """Everything that reads what was stored answers, then the change is undone."""
    owner = bearer(world.owner_token)
    for path, headers in (
        (f"/users/{world.user.id}/roles", owner),
        ("/me", bearer(world.user_token())),
        ("/api-keys", owner),
        ("/jobs", owner),
        ("/audit-events", owner),
    ):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
    body = answer.json()
    if answer.request.url.path == "/users/bulk-disable":
        # The job reads its stored parameters when it runs.
        job_runner.run(sessions, effects, world.tenant.id, uuid.UUID(body["id"]), chunk=10)
        job = client.get(f"/jobs/{body['id']}", headers=owner).json()
        assert job["status"] == "succeeded", job
        assert client.post(f"/users/{world.user.id}/enable", headers=owner).status_code == 200
    elif answer.request.url.path == "/api-keys":
        assert client.delete(f"/api-keys/{body['id']}", headers=owner).status_code == 204
    elif "/roles/" in answer.request.url.path:
        revoked = client.delete(f"/users/{world.user.id}/roles/{world.auditor.id}", headers=owner)
        assert revoked.status_code == 204, revoked.text


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_extreme_date_times_are_refused_or_read_back(
    client: TestClient,
    world: World,
    sessions: sessionmaker[Session],
    effects: Effects,
    target: Target,
) -> None:
    now = datetime.now(UTC)
    horizon = [
        (now + MAX_EXPIRY_AHEAD - timedelta(days=1)).isoformat(),
        (now + MAX_EXPIRY_AHEAD + timedelta(days=1)).isoformat(),
        (now - timedelta(days=1)).isoformat(),
    ]
    failures, accepted = [], 0
    for value in [*REPRESENTABLE, *horizon, *REFUSED]:
        response = send(client, world, target, value)
        shown = repr(value)[:60]
        if response.status_code >= 500:
            failures.append(f"{shown}: {response.status_code}")
        elif value in REFUSED and response.status_code != 422:
            failures.append(f"{shown}: {response.status_code}, not 422")
        elif response.status_code not in (200, 201, 202, 400, 422):
            failures.append(f"{shown}: {response.status_code} {response.text[:200]}")
        elif response.status_code < 300:
            accepted += 1
            read_back(client, world, sessions, effects, response)
    assert failures == [], f"{target}:\n" + "\n".join(failures)
    # A day inside the horizon suits every field: the read-backs did run.
    assert accepted > 0
