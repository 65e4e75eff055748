"""The per-process principal cache behind the guard, GET /me and the client-credentials
grant, through HTTP.

The app under test listens on Redis like any API process. Changes made through the
app's own cache drop its entries at once; changes made elsewhere (a worker, another API
process: here a second PrincipalCache on the same Redis) reach it through the channel.
"""

import base64
import dataclasses
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Api, ApiScope, Grant, Role, RoleScope, Tenant, User, UserStatus
from backend.domain.api_manifest import ApiSpec
from backend.domain.scopes import TENANT_SCOPES, Scope
from backend.domain.standing import SubjectStanding
from backend.domain.subjects import SubjectKind
from backend.security.principal_cache import PrincipalCache
from backend.services import principals, role_admin, user_admin
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import RoleFactory, TenantFactory, UserFactory
from tests.support.platform import apply_apis, create_operator
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


# A service account's scopes (the client-credentials grant and introspection).

PROJECTS = "https://api.example.com/projects"
ROLE_TABLES = ("roles", "role_scopes", "role_includes", "service_account_roles", "api_scopes")


@dataclass(frozen=True)
class Robot:
    """A service account of Acme holding the role `keeper`, which includes `base`."""

    tenant: Tenant
    owner: User
    owner_token: str
    keeper: Role
    base: Role
    client_id: str
    secret: str
    account_id: uuid.UUID

    def grant(self, client: TestClient, **form: str) -> set[str]:
        """The scopes the next client-credentials grant gives (asserting it succeeds)."""
        raw = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        response = client.post(
            "/token",
            data={"grant_type": "client_credentials", **form},
            headers={"Authorization": f"Basic {raw}"},
        )
        assert response.status_code == 200, response.text
        return set(response.json()["scope"].split())

    def actor(self) -> principals.Principal:
        return principals.Principal(
            kind=SubjectKind.USER,
            subject_id=self.owner.id,
            tenant_id=self.tenant.id,
            scopes=frozenset(TENANT_SCOPES),
            platform=False,
        )

    def edit(self, client: TestClient, role: Role, **body: object) -> None:
        response = client.patch(f"/roles/{role.id}", headers=bearer(self.owner_token), json=body)
        assert response.status_code == 200, response.text


@pytest.fixture
def robot(client: TestClient, db: Session, issue_token: IssueToken) -> Robot:
    app_cache(client)
    tenant = TenantFactory(slug="acme")
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    base = RoleFactory(tenant=tenant, name="base", scopes=[Scope.AUDIT_READ])
    keeper = RoleFactory(tenant=tenant, name="keeper", scopes=[Scope.JOBS_READ], includes=[base])
    db.commit()
    token = issue_token(owner, sorted(TENANT_SCOPES))
    made = client.post(
        "/service-accounts",
        headers=bearer(token),
        json={"name": "robot", "role_ids": [str(keeper.id)]},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    return Robot(
        tenant,
        owner,
        token,
        keeper,
        base,
        body["client_id"],
        body["client_secret"],
        uuid.UUID(body["id"]),
    )


def test_a_repeat_grant_reads_no_role(
    client: TestClient, robot: Robot, statements: list[str]
) -> None:
    assert robot.grant(client) == {"audit:read", "jobs:read"}
    assert any("role_scopes" in statement for statement in statements)
    # A message still on its way from an earlier test may drop a fill: a few tries.
    for _ in range(5):
        statements.clear()
        assert robot.grant(client) == {"audit:read", "jobs:read"}
        if not any(table in s for s in statements for table in ROLE_TABLES):
            break
    assert not [s for s in statements if any(table in s for table in ROLE_TABLES)]
    # The account itself is still read each time: its secret, revocation and version.
    assert any("service_accounts" in statement for statement in statements)


def test_the_next_grant_sees_a_scope_taken_off_the_accounts_role(
    client: TestClient, robot: Robot
) -> None:
    robot.grant(client)
    robot.edit(client, robot.keeper, scopes=[])
    assert robot.grant(client) == {"audit:read"}


def test_the_next_grant_sees_a_scope_added_to_the_accounts_role(
    client: TestClient, robot: Robot
) -> None:
    robot.grant(client)
    robot.edit(client, robot.keeper, scopes=["jobs:read", "tenant:read"])
    assert robot.grant(client) == {"audit:read", "jobs:read", "tenant:read"}


def test_the_next_grant_sees_a_change_of_an_included_role(client: TestClient, robot: Robot) -> None:
    robot.grant(client)
    robot.edit(client, robot.base, scopes=["audit:read", "roles:read"])
    assert robot.grant(client) == {"audit:read", "jobs:read", "roles:read"}
    robot.edit(client, robot.base, scopes=[])
    assert robot.grant(client) == {"jobs:read"}


def test_the_next_grant_sees_an_inclusion_removed_and_added(
    client: TestClient, robot: Robot
) -> None:
    robot.grant(client)
    robot.edit(client, robot.keeper, includes=[])
    assert robot.grant(client) == {"jobs:read"}
    robot.edit(client, robot.keeper, includes=[str(robot.base.id)])
    assert robot.grant(client) == {"audit:read", "jobs:read"}


def test_the_next_grant_sees_the_accounts_role_deleted(client: TestClient, robot: Robot) -> None:
    robot.grant(client)
    deleted = client.delete(f"/roles/{robot.keeper.id}", headers=bearer(robot.owner_token))
    assert deleted.status_code == 204, deleted.text
    assert robot.grant(client) == set()


def test_the_next_grant_after_the_account_is_revoked_is_refused(
    client: TestClient, robot: Robot
) -> None:
    robot.grant(client)
    revoked = client.delete(
        f"/service-accounts/{robot.account_id}", headers=bearer(robot.owner_token)
    )
    assert revoked.status_code == 204, revoked.text
    raw = base64.b64encode(f"{robot.client_id}:{robot.secret}".encode()).decode()
    refused = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {raw}"},
    )
    assert refused.status_code == 401, refused.text


def test_a_scope_taken_away_is_seen_by_the_next_grant_even_if_no_message_arrives(
    client: TestClient, robot: Robot, db: Session, elsewhere: Effects, settings: Settings
) -> None:
    """The loss bumped the account's token version, which the grant reads from PostgreSQL,
    and the remembered scopes are kept by version: no message is needed. Here the other
    process publishes on another Redis database's channel, which the app never hears."""
    robot.grant(client)
    other_db = settings.redis_url.rsplit("/", 1)[0] + "/14"
    with redis.Redis.from_url(other_db) as unheard:
        deaf = dataclasses.replace(elsewhere, principal_cache=PrincipalCache(unheard))
        role_admin.update_role(db, deaf, robot.actor(), robot.base.id, scopes=frozenset())
        db.commit()
    assert robot.grant(client) == {"jobs:read"}


def test_a_scope_added_in_another_process_reaches_the_grant_through_redis(
    client: TestClient, robot: Robot, db: Session, elsewhere: Effects
) -> None:
    robot.grant(client)
    role_admin.update_role(
        db, elsewhere, robot.actor(), robot.base.id, scopes=frozenset({"audit:read", "roles:read"})
    )
    db.commit()
    eventually(lambda: "roles:read" in robot.grant(client), "the new scope granted")


def test_the_next_grant_sees_a_product_scope_cascaded_off_by_apis_apply(
    client: TestClient,
    robot: Robot,
    db: Session,
    effects: Effects,
    settings: Settings,
    sessions: sessionmaker[Session],
) -> None:
    api = Api(identifier=PROJECTS, name="Projects")
    db.add(api)
    db.flush()
    product = ("projects:read", "projects:write")
    db.add_all(ApiScope(name=name, api_id=api.id) for name in product)
    db.flush()
    db.add_all(
        RoleScope(tenant_id=robot.tenant.id, role_id=robot.base.id, scope=name) for name in product
    )
    db.commit()
    wanted = {"resource": PROJECTS, "scope": "projects:read projects:write"}
    assert robot.grant(client, **wanted) == {"projects:read", "projects:write"}
    create_operator(db, effects, settings, "violet otters juggle lanterns")
    spec = ApiSpec(
        identifier=PROJECTS,
        name="Projects",
        description="",
        scopes={"projects:read": ""},
        scope_lines={"projects:read": 1},
    )
    apply_apis(sessions, effects, settings, [spec], cascade=True)
    assert robot.grant(client, resource=PROJECTS) == {"projects:read"}
