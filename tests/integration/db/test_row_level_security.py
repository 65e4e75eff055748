"""Row-level security, proven with deliberately unfiltered SQL on the app's own connection.

Every table with a tenant_id column is discovered from the schema, so tables added later
are covered without touching this file (as long as the `world` fixture gives them rows).
"""

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from backend.db.base import Base
from backend.db.models import Tenant
from backend.domain.scopes import Scope
from tests.factories import (
    AccountTokenFactory,
    ApiKeyFactory,
    AuditEventFactory,
    AuthorizationCodeFactory,
    FactorFactory,
    ImportRowFactory,
    InvitationFactory,
    JobFactory,
    LoginSessionFactory,
    MfaChallengeFactory,
    RecoveryCodeFactory,
    RefreshTokenFactory,
    RoleFactory,
    ServiceAccountFactory,
    TenantFactory,
    UserFactory,
    WebauthnChallengeFactory,
)


@dataclass(frozen=True)
class World:
    a: Tenant
    b: Tenant


def tenant_owned_tables(connection: Connection) -> list[str]:
    return list(
        connection.scalars(
            text(
                "SELECT table_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND column_name = 'tenant_id' ORDER BY table_name"
            )
        )
    )


def populate(tenant: Tenant) -> None:
    """At least one row in every tenant-owned table."""
    viewer = RoleFactory(tenant=tenant, scopes=[Scope.USERS_READ])
    lead = RoleFactory(tenant=tenant, scopes=[Scope.ROLES_READ], includes=[viewer])
    user = UserFactory(tenant=tenant, roles=[lead])
    UserFactory(tenant=tenant, roles=[viewer])
    RefreshTokenFactory(family=LoginSessionFactory(user=user))
    ServiceAccountFactory(tenant=tenant, roles=[viewer])
    ApiKeyFactory(creator=user)
    AuditEventFactory(tenant=tenant)
    InvitationFactory(user=user)
    ImportRowFactory(job=JobFactory(tenant=tenant, kind="import_users"))
    FactorFactory(user=user)
    RecoveryCodeFactory(user=user)
    MfaChallengeFactory(user=user)
    WebauthnChallengeFactory(user=user)
    AccountTokenFactory(user=user)
    AuthorizationCodeFactory(user=user)


@pytest.fixture
def world(db: Session) -> World:
    a, b = TenantFactory(slug="alpha"), TenantFactory(slug="bravo")
    populate(a)
    populate(b)
    db.commit()
    return World(a=a, b=b)


@pytest.fixture
def tables(owner_engine: Engine) -> list[str]:
    with owner_engine.connect() as connection:
        return tenant_owned_tables(connection)


def enter(connection: Connection, tenant_id: uuid.UUID) -> None:
    connection.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})


def count(connection: Connection, table: str, tenant_id: uuid.UUID | None = None) -> int:
    if tenant_id is None:
        return int(connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
    return int(
        connection.scalar(
            text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"), {"t": tenant_id}
        )
        or 0
    )


def test_every_tenant_owned_table_has_rows_in_both_tenants(
    world: World, tables: list[str], owner_engine: Engine
) -> None:
    """Guards the proofs below against passing on empty tables."""
    assert {"users", "roles", "role_scopes", "role_includes", "grants"} <= set(tables)
    with owner_engine.connect() as connection:
        for table in tables:
            assert count(connection, table, world.a.id) > 0, table
            assert count(connection, table, world.b.id) > 0, table


def test_unfiltered_select_sees_only_the_current_tenant(
    world: World, tables: list[str], app_engine: Engine, owner_engine: Engine
) -> None:
    with owner_engine.connect() as owner:
        expected = {table: count(owner, table, world.a.id) for table in tables}
    with app_engine.begin() as connection:
        enter(connection, world.a.id)
        for table in tables:
            assert count(connection, table) == expected[table], table
            assert count(connection, table, world.b.id) == 0, table
        assert connection.scalars(text("SELECT slug FROM tenants")).all() == ["alpha"]


def test_with_no_tenant_set_nothing_is_visible(
    world: World, tables: list[str], app_engine: Engine
) -> None:
    with app_engine.begin() as connection:
        for table in [*tables, "tenants"]:
            assert count(connection, table) == 0, table


def test_tenant_does_not_leak_into_the_next_transaction(world: World, app_engine: Engine) -> None:
    with app_engine.connect() as connection:
        with connection.begin():
            enter(connection, world.a.id)
            assert count(connection, "users") == 2
        with connection.begin():
            assert count(connection, "users") == 0


# The audit log is append-only for the application role: it may not even try.
APPEND_ONLY = {"audit_events"}
TENANT_OWNED = [t.name for t in Base.metadata.sorted_tables if "tenant_id" in t.c]


@pytest.mark.parametrize("table", sorted(APPEND_ONLY))
def test_append_only_tables_refuse_update_and_delete(
    world: World, table: str, app_engine: Engine
) -> None:
    for statement in (f"UPDATE {table} SET tenant_id = tenant_id", f"DELETE FROM {table}"):
        with app_engine.connect() as connection:
            enter(connection, world.a.id)
            with pytest.raises(DBAPIError, match="permission denied"):
                connection.execute(text(statement))
            connection.rollback()


@pytest.mark.parametrize("table", sorted(set(TENANT_OWNED) - APPEND_ONLY))
def test_unfiltered_update_and_delete_touch_only_the_current_tenant(
    world: World, table: str, app_engine: Engine, owner_engine: Engine
) -> None:
    with owner_engine.connect() as owner:
        a_rows, b_rows = count(owner, table, world.a.id), count(owner, table, world.b.id)
    with app_engine.begin() as connection:
        enter(connection, world.a.id)
        updated = connection.execute(text(f"UPDATE {table} SET tenant_id = tenant_id"))
        assert updated.rowcount == a_rows
        deleted = connection.execute(text(f"DELETE FROM {table}"))
        assert deleted.rowcount == a_rows
    with owner_engine.connect() as owner:
        assert count(owner, table, world.a.id) == 0
        assert count(owner, table, world.b.id) == b_rows


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO roles (tenant_id, id, name) VALUES (:b, gen_random_uuid(), 'x')",
        "UPDATE roles SET tenant_id = :b",
    ],
    ids=["insert", "update"],
)
def test_writing_a_row_into_another_tenant_is_refused(
    world: World, app_engine: Engine, statement: str
) -> None:
    with app_engine.connect() as connection:
        enter(connection, world.a.id)
        with pytest.raises(DBAPIError, match="row-level security"):
            connection.execute(text(statement), {"b": world.b.id})
        connection.rollback()


def test_login_function_enters_only_the_named_tenant(world: World, app_engine: Engine) -> None:
    with app_engine.begin() as connection:
        found = connection.scalar(text("SELECT tessera_enter_tenant_by_slug('bravo')"))
        assert found == world.b.id
        assert connection.scalars(text("SELECT slug FROM tenants")).all() == ["bravo"]
        assert count(connection, "users") == 2
    with app_engine.begin() as connection:
        assert connection.scalar(text("SELECT tessera_enter_tenant_by_slug('nope')")) is None
        assert count(connection, "users") == 0


def test_grant_functions_read_only_the_tenant_they_bind(world: World, app_engine: Engine) -> None:
    """The token grants' functions run with the caller's rights: asked about another
    tenant's user or token, they bind their own tenant and find nothing."""
    with app_engine.begin() as connection:
        enter(connection, world.b.id)
        b_user, b_hash, b_email = connection.execute(
            text(
                "SELECT t.user_id, t.token_hash, u.email FROM refresh_tokens t "
                "JOIN users u ON u.tenant_id = t.tenant_id AND u.id = t.user_id LIMIT 1"
            )
        ).one()
    with app_engine.begin() as connection:
        a, now = world.a.id, {"now": "2026-01-01T00:00:00+00:00"}
        scopes = connection.scalar(
            text("SELECT tessera_user_scopes(:t, :u, :now)"), {"t": a, "u": b_user, **now}
        )
        assert scopes == []
        subject = connection.execute(
            text("SELECT * FROM tessera_token_subject(:t, :u, :now)"), {"t": a, "u": b_user, **now}
        ).all()
        assert subject == []
        outcome = connection.scalar(
            text(
                "SELECT outcome FROM tessera_rotate_refresh_token("
                "CAST(:t AS uuid), :h, :h, now(), interval '1 day', interval '10 seconds')"
            ),
            {"t": a, "h": b_hash},
        )
        assert outcome == "unknown"
        # The bound tenant is the one asked for, not the token's.
        assert connection.scalars(text("SELECT id FROM tenants")).all() == [a]
    with app_engine.begin() as connection:
        login = connection.execute(
            text("SELECT tenant_id, user_id FROM tessera_login_subject('alpha', :e, now())"),
            {"e": b_email.lower()},
        ).one()
        assert login == (world.a.id, None)
