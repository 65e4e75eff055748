"""Pooled connections the server has ended are replaced at checkout, without a ping."""

import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.db.models import User
from tests.conftest import bearer, builtin_role
from tests.factories import TenantFactory, UserFactory


def app_connections(engine: Engine) -> int:
    """The app's connections to the test database that the server still holds."""
    with engine.connect() as admin:
        count = admin.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'tessera'"
            )
        )
    return int(count or 0)


def test_requests_after_the_server_ended_pooled_connections_still_succeed(
    client: TestClient, db: Session, owner_engine: Engine, issue_token: Callable[..., str]
) -> None:
    tenant = TenantFactory(slug="acme")
    owner: User = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    token = issue_token(owner, ["users:read"])
    # Several requests at once would hold several connections; in turn, one is reused.
    for _ in range(3):
        assert client.get("/users", headers=bearer(token)).status_code == 200
    with owner_engine.connect() as admin:
        ended = admin.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'tessera' "
                "AND state = 'idle'"
            )
        )
    assert ended, "the app held no idle pooled connection to end"
    # pg_terminate_backend only signals: wait until the backends have gone, so their
    # sockets are closed when the pool checks them (a live one passes the check).
    deadline = time.monotonic() + 10
    while app_connections(owner_engine) and time.monotonic() < deadline:
        time.sleep(0.05)
    # Each ended connection is caught at checkout and replaced: no request fails.
    for _ in range(3):
        response = client.get("/users", headers=bearer(token))
        assert response.status_code == 200, response.text
