"""The standings feed: its snapshot, what each change publishes, and who may read it."""

import asyncio
import inspect
from collections.abc import Callable

import pytest
import redis
import redis.asyncio
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.api.routes.standings import _events as standings_events
from backend.db.models import Tenant, TenantStatus, User
from backend.domain.scopes import TENANT_SCOPES, Scope
from backend.runtime import Runtime
from backend.security.standings_feed import StandingsFeed, follow
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import RoleFactory, TenantFactory, UserFactory
from tests.support.standings import changes_after

IssueToken = Callable[..., str]


@pytest.fixture
def feed(client: TestClient) -> StandingsFeed:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime.effects.standings


def runtime_redis(client: TestClient) -> redis.Redis:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime.redis


@pytest.fixture
def platform_reader(db: Session, settings: Settings) -> User:
    platform = TenantFactory(slug=settings.platform_tenant_slug)
    role = RoleFactory(tenant=platform, name="feed", scopes=[Scope.STANDINGS_READ])
    reader = UserFactory(tenant=platform, email="feed@platform.test", roles=[role])
    db.commit()
    return reader


@pytest.fixture
def acme(db: Session) -> tuple[Tenant, User, User]:
    tenant = TenantFactory(slug="acme")
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    ann = UserFactory(tenant=tenant, email="ann@acme.test")
    db.commit()
    return tenant, owner, ann


def test_a_disable_is_published_with_the_new_standing_after_commit(
    client: TestClient,
    acme: tuple[Tenant, User, User],
    feed: StandingsFeed,
    settings: Settings,
    issue_token: IssueToken,
) -> None:
    tenant, owner, ann = acme
    cursor = feed.cursor()
    token = issue_token(owner, sorted(TENANT_SCOPES))
    assert client.post(f"/users/{ann.id}/disable", headers=bearer(token)).status_code == 200
    [change] = changes_after(runtime_redis(client), feed, cursor)
    assert change == {
        "tenant_id": str(tenant.id),
        "reason": "disabled",
        "subjects": [
            {"kind": "user", "subject": str(ann.id), "token_version": 2, "status": "disabled"}
        ],
        "tenant_status": None,
    }


def test_a_refused_change_publishes_nothing(
    client: TestClient,
    acme: tuple[Tenant, User, User],
    feed: StandingsFeed,
    settings: Settings,
    issue_token: IssueToken,
) -> None:
    _, owner, _ = acme
    cursor = feed.cursor()
    # The last owner cannot be disabled: rolled back, so nothing may reach the feed.
    token = issue_token(owner, sorted(TENANT_SCOPES))
    assert client.post(f"/users/{owner.id}/disable", headers=bearer(token)).status_code == 409
    assert changes_after(runtime_redis(client), feed, cursor) == []


def test_the_snapshot_names_what_a_follower_cannot_assume(
    client: TestClient,
    db: Session,
    acme: tuple[Tenant, User, User],
    platform_reader: User,
    feed: StandingsFeed,
    issue_token: IssueToken,
) -> None:
    tenant, owner, ann = acme
    owner_token = issue_token(owner, sorted(TENANT_SCOPES))
    assert client.post(f"/users/{ann.id}/disable", headers=bearer(owner_token)).status_code == 200
    db.get_one(Tenant, tenant.id).status = TenantStatus.SUSPENDED
    db.commit()
    response = client.get(
        "/standings", headers=bearer(issue_token(platform_reader, ["standings:read"]))
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cursor"] == feed.cursor()
    by_tenant = {t["tenant_id"]: t for t in body["tenants"]}
    assert by_tenant[str(tenant.id)] == {
        "tenant_id": str(tenant.id),
        "status": "suspended",
        "subjects": [
            {"kind": "user", "subject": str(ann.id), "token_version": 2, "status": "disabled"}
        ],
    }
    # The owner's standing is a new subject's: nothing to say about them.
    assert by_tenant[str(platform_reader.tenant_id)]["subjects"] == []


@pytest.mark.parametrize("path", ["/standings", "/standings/stream"])
def test_only_a_platform_principal_with_the_scope_reads_the_feed(
    path: str,
    client: TestClient,
    db: Session,
    acme: tuple[Tenant, User, User],
    platform_reader: User,
    settings: Settings,
    issue_token: IssueToken,
) -> None:
    _, owner, _ = acme
    # A tenant's token that claims the platform scope anyway learns nothing: 403.
    smuggled = issue_token(owner, ["standings:read"])
    assert client.get(path, headers=bearer(smuggled)).status_code == 403
    lacking = issue_token(platform_reader, ["me"])
    response = client.get(path, headers=bearer(lacking))
    assert response.status_code == 403
    assert 'scope="standings:read"' in response.headers["www-authenticate"]
    assert client.get(path).status_code == 401


@pytest.mark.parametrize(
    "cursor", ["latest", "1-\x00", "\ud800-1", "9" * 21 + "-0", "-1-0", "1-0; drop"]
)
def test_a_malformed_last_event_id_is_refused_with_a_reason(
    cursor: str, client: TestClient, platform_reader: User, issue_token: IssueToken
) -> None:
    headers: dict[str, str | bytes] = {**bearer(issue_token(platform_reader, ["standings:read"]))}
    # As raw bytes: a lone surrogate as a client would send it, UTF-8 encoded regardless.
    headers["Last-Event-ID"] = cursor.encode("utf-8", "surrogatepass")
    response = client.get("/standings/stream", headers=headers)
    assert response.status_code == 422, response.text
    assert "Last-Event-ID" in response.text


def test_an_idle_follow_outlasts_the_redis_clients_default_read_timeout(
    settings: Settings, feed: StandingsFeed
) -> None:
    # An idle stream's blocking read takes its whole heartbeat interval; with redis-py's
    # default socket timeout shorter than that, the read failed and the stream ended.
    default = inspect.signature(redis.asyncio.Redis).parameters["socket_timeout"].default
    assert isinstance(default, int | float)

    async def first_two() -> list[tuple[str, str] | None]:
        stream = follow(settings.redis_url, feed.cursor(), block_seconds=default + 0.5)
        try:
            # Caught up at once (nothing to replay), then the first blocking read.
            return [await anext(stream), await anext(stream)]
        finally:
            await stream.aclose()

    assert asyncio.run(first_two()) == [None, None]  # a heartbeat, not an error


def test_the_stream_says_following_only_after_the_changes_it_replays(
    client: TestClient,
    acme: tuple[Tenant, User, User],
    feed: StandingsFeed,
    settings: Settings,
    issue_token: IssueToken,
) -> None:
    # A reconnecting follower counts itself live from the first comment: were it sent
    # before the replay, the follower would admit tokens on standings it had not caught
    # up with yet.
    _, owner, ann = acme
    cursor = feed.cursor()
    token = issue_token(owner, sorted(TENANT_SCOPES))
    assert client.post(f"/users/{ann.id}/disable", headers=bearer(token)).status_code == 200
    assert client.post(f"/users/{ann.id}/enable", headers=bearer(token)).status_code == 200

    async def first(after: str, count: int) -> list[str]:
        lines = standings_events(settings.redis_url, after, 60.0)
        try:
            return [await anext(lines) for _ in range(count)]
        finally:
            await lines.aclose()

    disabled, enabled, following = asyncio.run(first(cursor, 3))
    assert '"reason":"disabled"' in disabled
    assert '"reason":"enabled"' in enabled
    assert following == ": following\n\n"
    # Nothing to replay: it says so at once, not after a heartbeat's wait.
    assert asyncio.run(first(feed.cursor(), 1)) == [": following\n\n"]
