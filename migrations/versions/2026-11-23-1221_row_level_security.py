"""Row-level security: every tenant-owned table, and the tenants table, by app.tenant_id.

The application sets the tenant per transaction with set_config('app.tenant_id', id, true).
Two functions are the only ways into a tenant context without a prior tenant id:
- tessera_enter_tenant_by_slug (SECURITY DEFINER): login resolves the tenant it names;
- tessera_enter_tenant_as (invoker): the guard sets the tenant and reads the caller's
  status and token version in one statement, so isolation costs no extra round trip.

Revision ID: 7d0e35a1c2b4
Revises: 4c721de54347
Create Date: 2026-11-23 12:21:46.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

from backend.db.rls import isolate_tenant_table, release_tenant_table

revision: str = "7d0e35a1c2b4"
down_revision: str | None = "4c721de54347"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_OWNED = ("users", "roles", "role_scopes", "role_includes", "user_roles")


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION tessera_current_tenant() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$
        """
    )
    for table in TENANT_OWNED:
        for statement in isolate_tenant_table(table):
            op.execute(statement)

    # The tenants table is a reference table (no tenant_id): a tenant sees only its own
    # row. Not FORCEd, so the owner-defined login function below can resolve a slug.
    op.execute("ALTER TABLE tenants ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON tenants "
        "USING (id = tessera_current_tenant()) WITH CHECK (id = tessera_current_tenant())"
    )
    op.execute(
        """
        CREATE FUNCTION tessera_enter_tenant_by_slug(p_slug text) RETURNS uuid
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER
        SET search_path = pg_catalog, public
        AS $$
        DECLARE
            found uuid;
        BEGIN
            SELECT t.id INTO found FROM public.tenants t WHERE t.slug = p_slug;
            IF found IS NOT NULL THEN
                PERFORM set_config('app.tenant_id', found::text, true);
            END IF;
            RETURN found;
        END
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION tessera_enter_tenant_by_slug(text) FROM PUBLIC")
    op.execute(
        """
        CREATE FUNCTION tessera_enter_tenant_as(p_tenant uuid, p_user uuid)
        RETURNS TABLE (user_status varchar, token_version integer, tenant_status varchar)
        LANGUAGE plpgsql VOLATILE
        SET search_path = pg_catalog, public
        AS $$
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant::text, true);
            RETURN QUERY
                SELECT u.status, u.token_version, t.status
                FROM public.users u JOIN public.tenants t ON t.id = u.tenant_id
                WHERE u.tenant_id = p_tenant AND u.id = p_user;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION tessera_enter_tenant_as(uuid, uuid)")
    op.execute("DROP FUNCTION tessera_enter_tenant_by_slug(text)")
    op.execute("DROP POLICY tenant_isolation ON tenants")
    op.execute("ALTER TABLE tenants DISABLE ROW LEVEL SECURITY")
    for table in reversed(TENANT_OWNED):
        for statement in release_tenant_table(table):
            op.execute(statement)
    op.execute("DROP FUNCTION tessera_current_tenant()")
