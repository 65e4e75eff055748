"""The per-process principal cache behind the guard and GET /me, through HTTP.

The app under test listens on Redis like any API process. Changes made through the
app's own cache drop its entries at once; changes made elsewhere (a worker, another API
process: here a second PrincipalCache on the same Redis) reach it through the channel.
"""

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.db.models import Grant, User, UserStatus
from backend.domain.standing import SubjectStanding
from backend.domain.subjects import SubjectKind
from backend.security.principal_cache import PrincipalCache
from backend.services import principals, user_admin
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import RoleFactory, TenantFactory, UserFactory
from tests.support.principal_cache import app_cache, eventually

IssueToken = Callable[..., str]


@pytest.fixture
def member(db: Session) -> User:
    tenant = TenantFactory(slug="acme")
    user = UserFactory(
        tenant=tenant, email="m@acme.test", roles=[builtin_role(db, tenant, "member")]
    )
    db.commit()
    return user


def test_a_known_principal_costs_no_database_statement(
    client: TestClient, member: User, issue_token: IssueToken, statements: list[str]
) -> None:
    app_cache(client)
    token = issue_token(member, ["me"])
    first = client.get("/me", headers=bearer(token))
    assert first.status_code == 200
    assert statements, "the first request must read the principal from PostgreSQL"
    # A message still on its way from an earlier test may drop a fill: a few tries.
    for _ in range(5):
        statements.clear()
        again = client.get("/me", headers=bearer(token))
        assert again.status_code == 200
        assert again.json() == first.json()
        if not statements:
            break
    assert statements == []


def test_a_change_in_another_process_reaches_the_cache_through_redis(
    client: TestClient, member: User, issue_token: IssueToken, db: Session, elsewhere: Effects
) -> None:
    app_cache(client)
    token = issue_token(member, ["me"])
    assert client.get("/me", headers=bearer(token)).status_code == 200
    user_admin.set_status(db, elsewhere, member.tenant_id, member.id, UserStatus.DISABLED)
    db.commit()
    eventually(
        lambda: client.get("/me", headers=bearer(token)).status_code == 401,
        "the disabled user refused",
    )


def test_an_audited_change_elsewhere_drops_cached_profiles(
    client: TestClient, member: User, issue_token: IssueToken, db: Session, elsewhere: Effects
) -> None:
    app_cache(client)
    token = issue_token(member, ["me"])
    assert client.get("/me", headers=bearer(token)).json()["full_name"] != "Renamed"
    admin = principals.Principal(
        kind=SubjectKind.USER,
        subject_id=member.id,
        tenant_id=member.tenant_id,
        scopes=frozenset(),
        platform=False,
    )
    user_admin.update(db, elsewhere, admin, member.id, full_name="Renamed")
    db.commit()
    eventually(
        lambda: client.get("/me", headers=bearer(token)).json()["full_name"] == "Renamed",
        "the new name shown",
    )


def test_a_profile_is_not_served_past_a_grant_expiry(
    client: TestClient, member: User, issue_token: IssueToken, db: Session
) -> None:
    app_cache(client)
    temporary = RoleFactory(tenant_id=member.tenant_id, name="on-call")
    expires = datetime.now(UTC) + timedelta(seconds=1.5)
    db.add(
        Grant(
            tenant_id=member.tenant_id, user_id=member.id, role_id=temporary.id, expires_at=expires
        )
    )
    db.commit()
    token = issue_token(member, ["me"])
    assert "on-call" in client.get("/me", headers=bearer(token)).json()["roles"]
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.1)
    # No sweep has run and nothing was published: the entry simply was not kept longer.
    assert "on-call" not in client.get("/me", headers=bearer(token)).json()["roles"]


def test_a_fill_that_raced_an_invalidation_is_not_kept(client: TestClient) -> None:
    cache = app_cache(client)
    tenant, subject = uuid.uuid4(), uuid.uuid4()
    stale = SubjectStanding(
        user_status="active", token_version=1, tenant_status="active", tenant_slug="acme"
    )
    since = cache.generation
    cache.drop(tenant, [subject])
    cache.keep_standing(tenant, subject, stale, since=since)
    assert cache.standing(tenant, subject) is None
    cache.keep_standing(tenant, subject, stale, since=cache.generation)
    assert cache.standing(tenant, subject) == stale


def test_a_cache_cut_off_from_redis_serves_nothing(settings: Settings) -> None:
    down = PrincipalCache(redis.Redis.from_url("redis://127.0.0.1:1/0"), reconnect_seconds=0.05)
    down.listen()
    try:
        tenant, subject = uuid.uuid4(), uuid.uuid4()
        state = SubjectStanding(
            user_status="active", token_version=1, tenant_status="active", tenant_slug="acme"
        )
        down.keep_standing(tenant, subject, state, since=down.generation)
        down.keep_origins(frozenset({"https://app.acme.test"}), since=down.generation)
        assert not down.live
        assert down.standing(tenant, subject) is None
        assert down.origins() is None
    finally:
        down.close()


def test_rows_changed_without_the_app_are_seen_once_forgotten(
    client: TestClient, member: User, issue_token: IssueToken, owner_engine: Engine
) -> None:
    cache = app_cache(client)
    token = issue_token(member, ["me"])
    assert client.get("/me", headers=bearer(token)).status_code == 200
    with owner_engine.begin() as connection:
        connection.execute(
            text("UPDATE users SET status = 'disabled' WHERE id = :id"), {"id": member.id}
        )
    # A change by hand publishes nothing; an operator's forget (or the TTL) ends it.
    cache.forget(member.tenant_id, [member.id])
    assert client.get("/me", headers=bearer(token)).status_code == 401


def test_a_full_cache_starts_again_rather_than_growing(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    cache = PrincipalCache(client, standing_limit=2)
    cache.listen()
    try:
        eventually(lambda: cache.live, "the cache subscribed")
        tenant = uuid.uuid4()
        subjects = [uuid.uuid4() for _ in range(3)]
        state = SubjectStanding(
            user_status="active", token_version=1, tenant_status="active", tenant_slug="acme"
        )
        for subject in subjects:
            cache.keep_standing(tenant, subject, state, since=cache.generation)
        assert [cache.standing(tenant, s) for s in subjects] == [None, None, state]
    finally:
        cache.close()
        client.close()


def test_installations_sharing_a_redis_server_by_database_do_not_hear_each_other(
    client: TestClient, settings: Settings
) -> None:
    cache = app_cache(client)
    tenant, subject = uuid.uuid4(), uuid.uuid4()
    state = SubjectStanding(
        user_status="active", token_version=1, tenant_status="active", tenant_slug="acme"
    )
    cache.keep_standing(tenant, subject, state, since=cache.generation)
    # Pub/sub ignores database numbers; the channel carries the database's instead.
    other_db = settings.redis_url.rsplit("/", 1)[0] + "/14"
    with redis.Redis.from_url(other_db) as other_client:
        other = PrincipalCache(other_client)
        assert other.channel != cache.channel
        other.forget(tenant, [subject])
    generation = cache.generation
    with redis.Redis.from_url(settings.redis_url) as same_client:
        PrincipalCache(same_client).forget(uuid.uuid4())  # a marker on our own channel
    # Once a later message on our channel has been applied, the other one never was.
    eventually(lambda: cache.generation > generation, "our own channel's message applied")
    assert cache.standing(tenant, subject) == state
