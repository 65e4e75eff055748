"""The kit in a product service, following a live Tessera on 127.0.0.1.

Tessera runs as its own uvicorn process (EdDSA, its URL as issuer); the product service
is an app guarded by tessera_fastapi in this process. Each change of standing made in
Tessera must reach the service: it refuses the token on its next request once the
feed has delivered the change. The wait for delivery is bounded and polled; how long it
takes is measured by the bench (docs/resource-servers.md), never asserted here.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tessera_fastapi import TesseraGuard

from backend.db.models import Tenant, User
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, RoleFactory, TenantFactory, UserFactory
from tests.support.kit import CuttableProxy, FeedAccount, feed_account, guarded_app
from tests.support.live_server import LiveServer

# Bounded waits for the feed to deliver (it takes milliseconds; see the bench).
DELIVERY_TIMEOUT_S = 10.0
AUDIENCE = "tessera-api"


@dataclass
class World:
    tessera: LiveServer
    account: FeedAccount
    tenant: Tenant
    owner_token: str
    ann: User
    operator_token: str

    def login(self, username: str) -> str:
        response = httpx.post(
            f"{self.tessera.url}/token",
            data={"grant_type": "password", "username": username, "password": DEFAULT_PASSWORD},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def admin(self, method: str, path: str, token: str | None = None) -> None:
        response = httpx.request(
            method, f"{self.tessera.url}{path}", headers=bearer(token or self.owner_token)
        )
        assert response.status_code < 300, response.text


@pytest.fixture
def world(db: Session, settings: Settings, tessera: LiveServer) -> World:
    account = feed_account(db, settings)
    platform = db.query(Tenant).filter_by(slug=settings.platform_tenant_slug).one()
    operator_role = RoleFactory(tenant=platform, name="ops", scopes=["tenants:write", "me"])
    UserFactory(tenant=platform, email="ops@platform.test", roles=[operator_role])
    tenant = TenantFactory(slug="acme")
    UserFactory(tenant=tenant, email="owner@acme.test", roles=[builtin_role(db, tenant, "owner")])
    ann = UserFactory(
        tenant=tenant, email="ann@acme.test", roles=[builtin_role(db, tenant, "member")]
    )
    db.commit()
    world = World(tessera, account, tenant, "", ann, "")
    world.owner_token = world.login("acme/owner@acme.test")
    world.operator_token = world.login(f"{settings.platform_tenant_slug}/ops@platform.test")
    return world


Start = Callable[..., TestClient]


@pytest.fixture
def service(world: World) -> Iterator[Start]:
    """Start the product service with the guard options given; stopped after the test."""
    started: list[TestClient] = []

    def start(**options: object) -> TestClient:
        guard = TesseraGuard(
            issuer=world.tessera.url,
            audience=AUDIENCE,
            client_id=world.account.client_id,
            client_secret=world.account.client_secret,
            **options,  # type: ignore[arg-type]
        )
        client = TestClient(guarded_app(guard))
        client.__enter__()
        started.append(client)
        assert guard.follower is not None
        assert guard.follower.live
        return client

    yield start
    for client in started:
        client.__exit__(None, None, None)


def answer(client: TestClient, token: str) -> int:
    return client.get("/whoami", headers=bearer(token)).status_code


def refused_once_delivered(client: TestClient, token: str) -> int:
    """The status once the change has reached the service, or 200 if it never did."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while (status := answer(client, token)) == 200 and time.monotonic() < deadline:
        time.sleep(0.005)
    return status


def test_a_disabled_user_is_refused_by_the_service(world: World, service: Start) -> None:
    client = service()
    token = world.login("acme/ann@acme.test")
    assert answer(client, token) == 200
    world.admin("POST", f"/users/{world.ann.id}/disable")
    assert refused_once_delivered(client, token) == 401
    world.admin("POST", f"/users/{world.ann.id}/enable")
    # Enabling ends the old tokens too (their version); a new login works at once.
    assert answer(client, world.login("acme/ann@acme.test")) == 200


def test_a_token_version_bump_ends_older_tokens_only(world: World, service: Start) -> None:
    client = service()
    token = world.login("acme/ann@acme.test")
    member = builtin_role_id(world, "member")
    world.admin("DELETE", f"/users/{world.ann.id}/roles/{member}")
    assert refused_once_delivered(client, token) == 401


def test_a_suspended_tenant_is_refused_and_let_back(world: World, service: Start) -> None:
    client = service()
    token = world.login("acme/ann@acme.test")
    world.admin("POST", f"/tenants/{world.tenant.id}/suspend", world.operator_token)
    assert refused_once_delivered(client, token) == 401
    world.admin("POST", f"/tenants/{world.tenant.id}/reactivate", world.operator_token)
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while answer(client, token) != 200 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert answer(client, token) == 200


def test_a_service_started_after_the_change_knows_it_from_the_snapshot(
    world: World, service: Start
) -> None:
    token = world.login("acme/ann@acme.test")
    world.admin("POST", f"/users/{world.ann.id}/disable")
    assert answer(service(), token) == 401


def test_with_the_feed_cut_the_service_keeps_last_known_standings_then_fails_closed(
    world: World, service: Start
) -> None:
    proxy = CuttableProxy(world.tessera.port)
    try:
        lenient = service(standings_url=f"{proxy.url}/standings", grace_seconds=3600)
        strict = service(
            standings_url=f"{proxy.url}/standings",
            grace_seconds=0,
            introspect_on_feed_loss=False,
        )
        token = world.login("acme/ann@acme.test")
        assert (answer(lenient, token), answer(strict, token)) == (200, 200)
        proxy.cut()
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while answer(strict, token) == 200 and time.monotonic() < deadline:
            time.sleep(0.005)
        # Fail closed: the standing cannot be vouched for past the grace period.
        response = strict.get("/whoami", headers=bearer(token))
        assert response.status_code == 503
        assert response.json()["detail"]["error"] == "temporarily_unavailable"
        # Within the grace period: the lenient service still answers (introspection, or
        # the last-known standings).
        assert answer(lenient, token) == 200
        proxy.mend()
        # The follower reconnects and resumes from its cursor: nothing missed, live again.
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while answer(strict, token) != 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert answer(strict, token) == 200
    finally:
        proxy.close()


def test_a_token_for_another_audience_is_refused(world: World, service: Start) -> None:
    client = TestClient(
        guarded_app(TesseraGuard(issuer=world.tessera.url, audience="https://api.example.test/x"))
    )
    with client:
        assert answer(client, world.login("acme/ann@acme.test")) == 401


def builtin_role_id(world: World, name: str) -> str:
    response = httpx.get(f"{world.tessera.url}/roles", headers=bearer(world.owner_token))
    assert response.status_code == 200, response.text
    body = response.json()
    roles = body["items"] if isinstance(body, dict) else body
    return str(next(role["id"] for role in roles if role["name"] == name))


def test_with_only_the_feed_cut_a_change_is_seen_through_introspection(
    world: World, service: Start
) -> None:
    proxy = CuttableProxy(world.tessera.port)
    try:
        client = service(standings_url=f"{proxy.url}/standings", grace_seconds=3600)
        token = world.login("acme/ann@acme.test")
        assert answer(client, token) == 200
        guard: TesseraGuard = client.app.state.guard  # type: ignore[attr-defined]
        follower = guard.follower
        assert follower is not None
        proxy.cut()
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while follower.live and time.monotonic() < deadline:
            time.sleep(0.005)
        assert not follower.live
        # The feed is lost but Tessera answers: introspection (RFC 7662) decides for each
        # subject not asked about yet, so the disable is seen without the feed.
        world.admin("POST", f"/users/{world.ann.id}/disable")
        response = client.get("/whoami", headers=bearer(token))
        assert response.status_code == 401
        assert response.json()["detail"]["error_description"] == "token is not active"
    finally:
        proxy.close()
