"""Removing every owner of a tenant at once, over HTTP against a live uvicorn.

Four owners, four concurrent requests from four connections, each taking one owner
away by another path (disable, delete, revoke the owner role, give it an expiry),
released together by a barrier. However the server interleaves them, exactly one is
refused (409) and the tenant keeps one active owner whose grant does not expire.
Bounded: a few rounds, one request per connection each, 127.0.0.1 only.
"""

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.orm import Session

from backend.domain.scopes import TENANT_SCOPES
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import RoleFactory, TenantFactory, UserFactory
from tests.support.live_server import LiveServer, server_env, start_server
from tests.support.owners import lasting_owners

pytestmark = pytest.mark.security

IssueToken = Callable[..., str]
ROUNDS = 3
TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def live(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("owner-races")
    server = start_server(server_env(settings, directory / "var"), directory / "api.log")
    yield server
    server.stop()


def removals(owners: list[uuid.UUID], owner_role: uuid.UUID) -> list[tuple[str, str, object]]:
    """(method, path, body): one way of taking each owner away."""
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    first, second, third, fourth = owners
    return [
        ("POST", f"/users/{first}/disable", {"reason": "race"}),
        ("DELETE", f"/users/{second}", None),
        ("DELETE", f"/users/{third}/roles/{owner_role}", None),
        ("PUT", f"/users/{fourth}/roles/{owner_role}", {"expires_at": later}),
    ]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_removing_every_owner_at_once_leaves_one(
    live: LiveServer, db: Session, issue_token: IssueToken, round_: int
) -> None:
    tenant = TenantFactory()
    owner_role = builtin_role(db, tenant, "owner")
    owners = [UserFactory(tenant=tenant, roles=[owner_role]).id for _ in range(4)]
    admin = UserFactory(tenant=tenant, roles=[RoleFactory(tenant=tenant, scopes=TENANT_SCOPES)])
    db.commit()
    headers = bearer(issue_token(admin, sorted(TENANT_SCOPES)))
    calls = removals(owners, owner_role.id)
    barrier = threading.Barrier(len(calls), timeout=TIMEOUT_S)
    statuses: list[int] = []

    def remove(method: str, path: str, body: object) -> None:
        with httpx.Client(base_url=live.url, headers=headers, timeout=TIMEOUT_S) as client:
            client.get("/healthz")  # the connection is open before the barrier
            barrier.wait()
            statuses.append(client.request(method, path, json=body).status_code)

    threads = [threading.Thread(target=remove, args=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads)
    assert len(statuses) == len(calls), live.output()
    assert sorted(statuses).count(409) == 1, statuses
    assert all(status in (200, 204, 409) for status in statuses), statuses
    assert lasting_owners(db, tenant.id) == 1
