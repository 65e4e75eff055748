"""SQL that puts a table behind tenant isolation, shared by the migrations that need it.

Every tenant-owned table gets the same policy: rows are visible and writable only when
their tenant_id equals the transaction's tenant (`app.tenant_id`). FORCE makes the
policy bind the table owner too; only superusers are above it.
"""

POLICY = "tenant_isolation"


def isolate_tenant_table(table: str) -> list[str]:
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {POLICY} ON {table} "
        "USING (tenant_id = tessera_current_tenant()) "
        "WITH CHECK (tenant_id = tessera_current_tenant())",
    ]


def release_tenant_table(table: str) -> list[str]:
    return [
        f"DROP POLICY {POLICY} ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]
