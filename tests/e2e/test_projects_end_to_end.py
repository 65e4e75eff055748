"""The projects example end to end: Tessera on 127.0.0.1, the example service guarded by
the kit and following Tessera's feed, both on real PostgreSQL and Redis.

The platform registers the example's API with `tessera apis apply`; a tenant admin makes
a role of its scopes and grants it; the user logs in with `resource=` and works with
projects. Then each cut-off made in Tessera reaches the service on its next request
once the feed has delivered it (a bounded wait, polled; the delay itself is the bench's).
The service reaches Tessera through a relay that a test can cut, as a network would be.
"""

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from tessera_fastapi import TesseraGuard

from backend.db.models import Tenant, User
from backend.services.effects import Effects
from backend.settings import Settings
from examples.projects.app import create_app
from examples.projects.settings import API_FILE, ApiDeclaration, ProjectsSettings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, RoleFactory, TenantFactory, UserFactory
from tests.integration.worker.conftest import worker_env
from tests.support.kit import CuttableProxy, feed_account
from tests.support.live_server import LiveServer
from tests.support.platform import OPERATOR_EMAIL, create_operator
from tests.support.projects import projects_database

PROJECTS = ApiDeclaration.load().identifier
OPERATOR_PASSWORD = "violet otters juggle lanterns"
# Bounded waits for the feed to deliver (it takes milliseconds; see the bench).
DELIVERY_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def projects_settings(admin_database_url: str) -> Iterator[ProjectsSettings]:
    with projects_database(admin_database_url, f"projects_e2e_{uuid.uuid4().hex[:8]}") as found:
        yield found


@dataclass
class Platform:
    """Tessera's side: the URL, the operator, and two tenants with their people."""

    url: str
    settings: Settings
    operator_token: str
    acme: Tenant
    admin: User  # acme's owner, who also holds the projects API's scopes
    ann: User  # acme's member, who is given the editor role
    bob: User  # globex's, holding the projects API's scopes in his own tenant

    def login(self, username: str, password: str = DEFAULT_PASSWORD, **form: str) -> str:
        response = httpx.post(
            f"{self.url}/token",
            data={"grant_type": "password", "username": username, "password": password, **form},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def call(self, method: str, path: str, token: str, body: object = None) -> httpx.Response:
        response = httpx.request(method, f"{self.url}{path}", headers=bearer(token), json=body)
        assert response.status_code < 300, response.text
        return response


@pytest.fixture
def platform(db: Session, effects: Effects, settings: Settings, tessera: LiveServer) -> Platform:
    create_operator(db, effects, settings, OPERATOR_PASSWORD)
    executable = shutil.which("tessera", path=os.path.dirname(sys.executable))
    assert executable
    applied = subprocess.run(
        [executable, "apis", "apply", str(API_FILE)],
        env=worker_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    # Who first holds a new API's scopes is the platform's arranging; from then on a
    # tenant admin hands them on through roles, within what they hold themselves.
    acme = TenantFactory(slug="acme")
    product = RoleFactory(tenant=acme, name="product", scopes=["projects:read", "projects:write"])
    admin = UserFactory(
        tenant=acme, email="admin@acme.test", roles=[builtin_role(db, acme, "owner"), product]
    )
    ann = UserFactory(tenant=acme, email="ann@acme.test", roles=[builtin_role(db, acme, "member")])
    globex = TenantFactory(slug="globex")
    reader = RoleFactory(tenant=globex, name="product", scopes=["projects:read", "projects:write"])
    bob = UserFactory(tenant=globex, email="bob@globex.test", roles=[reader])
    db.commit()
    found = Platform(tessera.url, settings, "", acme, admin, ann, bob)
    found.operator_token = found.login(
        f"{settings.platform_tenant_slug}/{OPERATOR_EMAIL}", OPERATOR_PASSWORD
    )
    return found


@dataclass
class Service:
    client: TestClient
    proxy: CuttableProxy

    @property
    def guard(self) -> TesseraGuard:
        guard: TesseraGuard = self.client.app.state.guard  # type: ignore[attr-defined]
        return guard

    def get(self, path: str, token: str) -> httpx.Response:
        return self.client.get(path, headers=bearer(token))

    def status_once_delivered(self, path: str, token: str, *, until: int) -> int:
        """The status of `GET path` once it is `until`, or as it stands at the deadline."""
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while (status := self.get(path, token).status_code) != until:
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
        return status


@pytest.fixture
def service(
    db: Session, settings: Settings, platform: Platform, projects_settings: ProjectsSettings
) -> Iterator[Service]:
    """The example service, its Tessera reached through a relay; emptied afterwards."""
    account = feed_account(db, settings)
    proxy = CuttableProxy(int(platform.url.rsplit(":", 1)[1]))
    configured = ProjectsSettings(
        database_url=projects_settings.database_url,
        migration_database_url=projects_settings.migration_database_url,
        issuer=proxy.url,
        client_id=account.client_id,
        client_secret=account.client_secret,
        discovery_wait_seconds=0,
    )
    try:
        with TestClient(create_app(configured)) as client:
            found = Service(client, proxy)
            assert found.guard.follower is not None
            assert found.guard.follower.live
            yield found
    finally:
        proxy.close()
        owner = create_engine(projects_settings.migration_database_url, poolclass=NullPool)
        with owner.begin() as connection:
            connection.execute(text("TRUNCATE projects"))
        owner.dispose()


def grant_editor(platform: Platform) -> str:
    """The admin makes an `editor` role of the API's scopes and grants it to ann."""
    admin = platform.login("acme/admin@acme.test")
    role = platform.call(
        "POST", "/roles", admin, {"name": "editor", "scopes": ["projects:read", "projects:write"]}
    ).json()
    platform.call("PUT", f"/users/{platform.ann.id}/roles/{role['id']}", admin, {})
    return str(role["id"])


def test_a_granted_role_lets_a_user_work_with_projects_in_their_tenant_only(
    platform: Platform, service: Service
) -> None:
    grant_editor(platform)
    token = platform.login("acme/ann@acme.test", resource=PROJECTS)
    created = service.client.post("/projects", json={"name": "Apollo"}, headers=bearer(token))
    assert created.status_code == 201, created.text
    project = created.json()
    listed = service.get("/projects", token)
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["items"]] == [project["id"]]
    assert service.get(f"/projects/{project['id']}", token).json() == project

    # Another tenant's user, holding the same scopes there: 404 and an empty list.
    other = platform.login("globex/bob@globex.test", resource=PROJECTS)
    assert service.get(f"/projects/{project['id']}", other).status_code == 404
    assert service.get("/projects", other).json() == {"items": []}

    # A token for Tessera's own API (no resource=) is not for this service.
    tessera_token = platform.login("acme/ann@acme.test")
    refused = service.get("/projects", tessera_token)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_a_revoked_role_a_disabled_user_and_a_suspended_tenant_are_refused_next(
    platform: Platform, service: Service
) -> None:
    role = grant_editor(platform)
    admin = platform.login("acme/admin@acme.test")
    ann = platform.ann.id

    token = platform.login("acme/ann@acme.test", resource=PROJECTS)
    assert service.get("/projects", token).status_code == 200
    platform.call("DELETE", f"/users/{ann}/roles/{role}", admin)
    assert service.status_once_delivered("/projects", token, until=401) == 401

    platform.call("PUT", f"/users/{ann}/roles/{role}", admin, {})
    token = platform.login("acme/ann@acme.test", resource=PROJECTS)
    assert service.get("/projects", token).status_code == 200
    platform.call("POST", f"/users/{ann}/disable", admin)
    assert service.status_once_delivered("/projects", token, until=401) == 401

    platform.call("POST", f"/users/{ann}/enable", admin)
    token = platform.login("acme/ann@acme.test", resource=PROJECTS)
    assert service.get("/projects", token).status_code == 200
    platform.call("POST", f"/tenants/{platform.acme.id}/suspend", platform.operator_token)
    assert service.status_once_delivered("/projects", token, until=401) == 401


def test_with_the_feed_cut_the_service_keeps_last_known_standings_then_catches_up(
    platform: Platform, service: Service
) -> None:
    grant_editor(platform)
    token = platform.login("acme/ann@acme.test", resource=PROJECTS)
    assert service.get("/projects", token).status_code == 200
    follower = service.guard.follower
    assert follower is not None

    service.proxy.cut()
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while follower.live and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not follower.live
    # Cut off from Tessera, within the grace period: last-known standings decide, so a
    # change made now is not seen yet (docs/resource-servers.md, "feed lost").
    admin = platform.login("acme/admin@acme.test")
    platform.call("POST", f"/users/{platform.ann.id}/disable", admin)
    assert service.get("/projects", token).status_code == 200

    # The relay is mended: the follower resumes from its cursor (Last-Event-ID) and
    # replays what it missed, the disable included (until it is live again,
    # introspection, now reachable, refuses the token too).
    service.proxy.mend()
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while not follower.live and time.monotonic() < deadline:
        time.sleep(0.005)
    assert follower.live
    refused = service.get("/projects", token)
    assert refused.status_code == 401
    assert refused.json()["detail"]["error_description"] == "subject is disabled"
