"""Identical requests raced against one live API process on 127.0.0.1.

Each request of a race has its own thread and its own TCP connection, opened before a
barrier so the requests leave together; every wait is bounded. The API serves them on
its worker threads, each in its own database transaction, as in production.
"""

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.orm import Session

from backend.db.models import Tenant, User
from backend.domain.scopes import TENANT_SCOPES, Scope
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory
from tests.support.live_server import LiveServer, server_env, start_server
from tests.support.platform import create_operator

REQUEST_TIMEOUT_S = 30.0
BARRIER_TIMEOUT_S = 15.0
IssueToken = Callable[..., str]
# What one racer sends, given its own client and its index in the race.
Send = Callable[[httpx.Client, int], httpx.Response]


@pytest.fixture(scope="session")
def live_api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One uvicorn for the suite; each test arranges its own tenant, so they never meet."""
    var_dir = tmp_path_factory.mktemp("concurrency")
    server = start_server(server_env(settings, var_dir / "var"), var_dir / "api.log")
    yield server
    server.stop()


@dataclass(frozen=True)
class Answer:
    status: int
    body: object


def race(url: str, n: int, send: Send) -> list[Answer]:
    """Send `n` requests at once (each racer's `send`), and what each got back."""
    barrier = threading.Barrier(n, timeout=BARRIER_TIMEOUT_S)
    answers: list[Answer | None] = [None] * n
    failures: list[BaseException] = []

    def racer(index: int) -> None:
        try:
            with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
                client.get("/healthz")  # the connection is open before the start
                barrier.wait()
                response = send(client, index)
                answers[index] = Answer(response.status_code, _body(response))
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=racer, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BARRIER_TIMEOUT_S + REQUEST_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "a racer never finished"
    assert not failures, failures
    return [answer for answer in answers if answer is not None]


def statuses(answers: list[Answer]) -> Counter[int]:
    return Counter(answer.status for answer in answers)


def _body(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return response.text


@dataclass(frozen=True)
class Admin:
    """A user of a tenant and a token with every scope they may hold, for the live API."""

    tenant: Tenant
    user: User
    token: str
    url: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    def events(self, action: str, target: str | None = None) -> list[dict[str, object]]:
        """Their tenant's audit events of one action (and target), through the API."""
        params = {"action": action, "limit": "100"}
        if target is not None:
            params["target"] = target
        response = httpx.get(
            f"{self.url}/audit-events", params=params, headers=self.headers, timeout=10
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, object]] = response.json()["items"]
        return items


@pytest.fixture
def acme(db: Session, issue_token: IssueToken, live_api: LiveServer) -> Admin:
    """A tenant and its owner."""
    tenant = TenantFactory(slug="acme")
    owner = UserFactory(
        tenant=tenant, email="ada@acme.test", roles=[builtin_role(db, tenant, "owner")]
    )
    db.commit()
    return Admin(tenant, owner, issue_token(owner, sorted(TENANT_SCOPES)), live_api.url)


@pytest.fixture
def operator(
    db: Session, effects: Effects, settings: Settings, issue_token: IssueToken, live_api: LiveServer
) -> Admin:
    """The platform tenant and an operator, made as `tessera create-platform-admin` does."""
    user = create_operator(db, effects, settings, DEFAULT_PASSWORD)
    tenant = db.get_one(Tenant, user.tenant_id)
    return Admin(tenant, user, issue_token(user, sorted(Scope)), live_api.url)
