"""The guard's one-statement standing check for service accounts.

Like tessera_enter_tenant_as for users: bind the tenant, then read the account's
standing (a revoked account reads as 'disabled') and its tenant's status, under
row-level security, in one round trip.

Revision ID: 3f9b2c71d8e0
Revises: c0a8e8775c49
Create Date: 2026-11-23 12:50:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3f9b2c71d8e0"
down_revision: str | None = "c0a8e8775c49"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION tessera_enter_tenant_as_service_account(p_tenant uuid, p_account uuid)
        RETURNS TABLE (user_status varchar, token_version integer, tenant_status varchar)
        LANGUAGE plpgsql VOLATILE
        SET search_path = pg_catalog, public
        AS $$
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant::text, true);
            RETURN QUERY
                SELECT CASE WHEN a.revoked_at IS NULL THEN 'active' ELSE 'disabled' END::varchar,
                       a.token_version, t.status
                FROM public.service_accounts a JOIN public.tenants t ON t.id = a.tenant_id
                WHERE a.tenant_id = p_tenant AND a.id = p_account;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION tessera_enter_tenant_as_service_account(uuid, uuid)")
