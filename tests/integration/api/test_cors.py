"""CORS answers from the principal cache's copy of the clients' origins: a request with an
Origin reads PostgreSQL only when the copy is missing, and every change of a client (over
the API, or `clients apply` in another process) ends the copy at once."""

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from backend.db.models import User
from backend.domain.client_manifest import parse_manifest
from backend.domain.scopes import Scope
from backend.services import apis, client_apply
from backend.services.effects import Effects
from tests.conftest import bearer
from tests.support.principal_cache import app_cache, eventually

IssueToken = Callable[..., str]
APP = "https://app.acme.test"
OTHER = "https://other.acme.test"
# A covered path that reads nothing itself without a token (401): the only statement is
# CORS's.
COVERED = "/userinfo"
JOIN_TIMEOUT_S = 30.0
SPA: dict[str, Any] = {
    "client_id": "acme-spa",
    "name": "Acme single-page app",
    "type": "public",
    "redirect_uris": ["https://app.acme.test/callback"],
    "allowed_origins": [APP],
    "grant_types": ["authorization_code", "refresh_token"],
}


@pytest.fixture
def token(operator: User, issue_token: IssueToken) -> str:
    return issue_token(operator, [Scope.CLIENTS_READ, Scope.CLIENTS_WRITE])


@pytest.fixture
def spa(client: TestClient, token: str) -> str:
    """The client's id, registered over the API with the origin APP."""
    app_cache(client)
    created = client.post("/clients", headers=bearer(token), json=SPA)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def allows(client: TestClient, origin: str) -> bool:
    answer = client.get(COVERED, headers={"Origin": origin})
    assert answer.status_code == 401
    return answer.headers.get("access-control-allow-origin") == origin


def origin_reads(statements: list[str]) -> int:
    return sum("allowed_origins" in s for s in statements)


def test_known_origins_cost_no_statement(
    client: TestClient, spa: str, statements: list[str]
) -> None:
    assert allows(client, APP)
    assert origin_reads(statements) == 1
    # A message still on its way from an earlier test may drop a fill: a few tries.
    for _ in range(5):
        statements.clear()
        assert allows(client, APP)
        assert not allows(client, OTHER)
        if not origin_reads(statements):
            break
    assert origin_reads(statements) == 0


def test_an_origin_removed_from_a_client_is_refused_by_the_next_request(
    client: TestClient, token: str, spa: str
) -> None:
    assert allows(client, APP)
    changed = client.patch(
        f"/clients/{spa}", headers=bearer(token), json={"allowed_origins": [OTHER]}
    )
    assert changed.status_code == 200, changed.text
    assert not allows(client, APP)
    assert allows(client, OTHER)


def test_a_deleted_clients_origin_is_refused_by_the_next_request(
    client: TestClient, token: str, spa: str
) -> None:
    assert allows(client, APP)
    assert client.delete(f"/clients/{spa}", headers=bearer(token)).status_code == 204
    assert not allows(client, APP)


def test_a_new_clients_origin_is_allowed_by_the_next_request(
    client: TestClient, token: str, spa: str
) -> None:
    assert not allows(client, OTHER)
    other = SPA | {"client_id": "other-spa", "allowed_origins": [OTHER]}
    assert client.post("/clients", headers=bearer(token), json=other).status_code == 201
    assert allows(client, OTHER)


def test_clients_apply_in_another_process_reaches_the_app_through_redis(
    client: TestClient, spa: str, db: Session, operator: User, elsewhere: Effects
) -> None:
    assert allows(client, APP)
    manifest = f"""
[[client]]
client_id = "acme-spa"
name = "Acme single-page app"
type = "public"
redirect_uris = ["https://app.acme.test/callback"]
allowed_origins = ["{OTHER}"]
grant_types = ["authorization_code", "refresh_token"]
"""
    by = apis.Operator(tenant_id=operator.tenant_id, actor="cli")
    client_apply.apply(
        db, elsewhere, by, parse_manifest(manifest), prune=False, own_audience="tessera-api"
    )
    db.commit()
    eventually(lambda: not allows(client, APP), "the removed origin refused")
    assert allows(client, OTHER)


def test_origins_read_before_a_change_committed_are_not_kept(
    client: TestClient, token: str, spa: str
) -> None:
    """A request reads the origins; before it keeps them, a PATCH removes APP and commits.
    The request may answer with what it read, but the next one must not."""
    engine: Engine = client.app.state.runtime.database.engine  # type: ignore[attr-defined]
    read, release = threading.Event(), threading.Event()

    def pause_after_the_read(*args: object) -> None:
        if "allowed_origins" in str(args[2]) and not read.is_set():
            read.set()
            assert release.wait(JOIN_TIMEOUT_S)

    racing: list[httpx.Response] = []
    event.listen(engine, "after_cursor_execute", pause_after_the_read)
    try:
        request = threading.Thread(
            target=lambda: racing.append(client.get(COVERED, headers={"Origin": APP}))
        )
        request.start()
        assert read.wait(JOIN_TIMEOUT_S), "the CORS request never read the origins"
        changed = client.patch(
            f"/clients/{spa}", headers=bearer(token), json={"allowed_origins": [OTHER]}
        )
        assert changed.status_code == 200, changed.text
        release.set()
        request.join(JOIN_TIMEOUT_S)
        assert not request.is_alive(), "the CORS request hung"
    finally:
        release.set()
        event.remove(engine, "after_cursor_execute", pause_after_the_read)
    assert racing[0].headers["access-control-allow-origin"] == APP
    assert not allows(client, APP)
