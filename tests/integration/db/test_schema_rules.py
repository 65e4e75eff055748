"""Rules every tenant-owned table must keep, read from the migrated schema itself.

A table that a later migration adds fails here if it forgets row-level security or
leaves tenant_id out of a key, so the schema stays isolated and Citus-distributable.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

TENANT_OWNED_SQL = """
    SELECT c.relname
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
    ORDER BY c.relname
"""


@pytest.fixture
def connection(owner_engine: Engine) -> Iterator[Connection]:
    with owner_engine.connect() as connection:
        yield connection


def tenant_owned(connection: Connection) -> set[str]:
    return set(connection.scalars(text(TENANT_OWNED_SQL)))


def test_there_are_tenant_owned_tables(connection: Connection) -> None:
    assert {"users", "roles", "role_scopes", "role_includes", "grants"} <= tenant_owned(connection)


def test_every_tenant_owned_table_has_forced_rls_with_a_tenant_policy(
    connection: Connection,
) -> None:
    rows = connection.execute(
        text(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   coalesce(bool_or(p.qual LIKE '%tenant_id%' AND p.with_check LIKE '%tenant_id%'),
                            false) AS has_policy
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_policies p ON p.schemaname = n.nspname AND p.tablename = c.relname
            WHERE n.nspname = 'public' AND c.relname = ANY(:tables)
            GROUP BY c.relname, c.relrowsecurity, c.relforcerowsecurity
            """
        ),
        {"tables": sorted(tenant_owned(connection))},
    ).all()
    failures = [
        f"{name}: enabled={enabled} forced={forced} tenant policy={policy}"
        for name, enabled, forced, policy in rows
        if not (enabled and forced and policy)
    ]
    assert not failures, failures


def test_tenants_table_is_isolated_too(connection: Connection) -> None:
    enabled = connection.scalar(
        text("SELECT relrowsecurity FROM pg_class WHERE relname = 'tenants'")
    )
    policies = connection.scalars(
        text("SELECT policyname FROM pg_policies WHERE tablename = 'tenants' ORDER BY 1")
    ).all()
    assert enabled
    assert policies == ["platform_operator", "tenant_isolation"]


def test_foreign_keys_between_tenant_owned_tables_include_tenant_id(
    connection: Connection,
) -> None:
    rows = connection.execute(
        text(
            """
            SELECT con.conname, src.relname, dst.relname,
                   ARRAY(SELECT attname FROM pg_attribute
                         WHERE attrelid = con.conrelid AND attnum = ANY(con.conkey)),
                   ARRAY(SELECT attname FROM pg_attribute
                         WHERE attrelid = con.confrelid AND attnum = ANY(con.confkey))
            FROM pg_constraint con
            JOIN pg_class src ON src.oid = con.conrelid
            JOIN pg_class dst ON dst.oid = con.confrelid
            WHERE con.contype = 'f'
            """
        )
    ).all()
    owned = tenant_owned(connection)
    between = [row for row in rows if row[1] in owned and row[2] in owned]
    assert between, "expected foreign keys between tenant-owned tables"
    failures = [
        f"{name} ({src} -> {dst}): {cols} -> {ref_cols}"
        for name, src, dst, cols, ref_cols in between
        if "tenant_id" not in cols or "tenant_id" not in ref_cols
    ]
    assert not failures, failures


def test_unique_keys_of_tenant_owned_tables_include_tenant_id(connection: Connection) -> None:
    """Citus can enforce uniqueness only when the distribution column is part of the key."""
    rows = connection.execute(
        text(
            """
            SELECT t.relname, i.relname,
                   ARRAY(SELECT attname FROM pg_attribute
                         WHERE attrelid = ix.indrelid AND attnum = ANY(ix.indkey))
            FROM pg_index ix
            JOIN pg_class t ON t.oid = ix.indrelid
            JOIN pg_class i ON i.oid = ix.indexrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = 'public' AND ix.indisunique
            """
        )
    ).all()
    owned = tenant_owned(connection)
    keys = [row for row in rows if row[0] in owned]
    assert keys
    failures = [
        f"{table}.{index}: {cols}" for table, index, cols in keys if "tenant_id" not in cols
    ]
    assert not failures, failures


REFERENCE_SQL = """
    SELECT c.relname
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'alembic_version'
      AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                      AND a.attname = 'tenant_id' AND NOT a.attisdropped)
    ORDER BY c.relname
"""


def test_every_reference_table_is_listed_in_the_scaling_guide(connection: Connection) -> None:
    """A table without tenant_id is platform-level: Citus must replicate it, so the
    guide's distribution script names it, and row-level security guards its writes."""
    guide = (Path(__file__).parents[3] / "docs" / "scaling.md").read_text()
    reference = list(connection.scalars(text(REFERENCE_SQL)))
    assert {"tenants", "clients"} <= set(reference)
    unlisted = [t for t in reference if f"create_reference_table('{t}')" not in guide]
    assert not unlisted, unlisted
    unguarded = connection.scalars(
        text("SELECT relname FROM pg_class WHERE relname = ANY(:t) AND NOT relrowsecurity"),
        {"t": reference},
    ).all()
    assert not unguarded, unguarded


def test_clients_are_read_by_all_and_written_by_platform_operators(connection: Connection) -> None:
    policies = connection.execute(
        text("SELECT policyname, cmd FROM pg_policies WHERE tablename = 'clients' ORDER BY 1")
    ).all()
    assert [tuple(p) for p in policies] == [
        ("everyone_reads", "SELECT"),
        ("platform_operator", "ALL"),
    ]
