"""Users get a stored `email_lower` (collation "C"): the listing's keyset and the unique key.

Under row-level security PostgreSQL evaluates the policy's qual before any condition
that is not leakproof, so the listing's old keyset `(lower(email), id) > (...)` could
not be an index condition (lower() is not leakproof): every page scanned the tenant's
users from the start and filtered, O(depth). A plain column compared with the
leakproof text and uuid operators is an index condition, so a page costs O(limit) at
any depth.

Collation "C" orders by code point, the same on every server whatever its locale or
C library version, and compares with memcmp. The column replaces the expression in the
unique index (same rule: one email per tenant, whatever its case), so the table keeps
one index on emails. Adding a stored generated column rewrites the table.

tessera_login_subject (the previous revision) found the user by `lower(email)`, which
only the old expression index served: it now compares `email_lower` with the lower-cased
address given, so a login stays one index lookup, and lower-cases the way the column does.

Revision ID: 5e1c0a7b9d24
Revises: 5e1d3c9a7b20
Create Date: 2026-11-30 14:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e1c0a7b9d24"
down_revision: str | None = "5e1d3c9a7b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column(
            "email_lower",
            sa.String(length=320, collation="C"),
            sa.Computed("lower(email)", persisted=True),
            nullable=False,
        ),
    )
    op.drop_index("uq_users_tenant_id_email", table_name="users")
    op.create_index(
        "uq_users_tenant_id_email_lower", "users", ["tenant_id", "email_lower"], unique=True
    )
    op.execute(_login_subject("u.email_lower = lower(p_email)"))


def downgrade() -> None:
    op.execute(_login_subject("lower(u.email) = p_email"))
    op.drop_index("uq_users_tenant_id_email_lower", table_name="users")
    op.create_index(
        "uq_users_tenant_id_email", "users", ["tenant_id", sa.text("lower(email)")], unique=True
    )
    op.drop_column("users", "email_lower")


def _login_subject(email_match: str) -> str:
    """tessera_login_subject as the previous revision made it, but for the email match."""
    return f"""
        CREATE OR REPLACE FUNCTION tessera_login_subject(
            p_slug text, p_email text, p_now timestamptz)
        RETURNS TABLE (tenant_id uuid, tenant_policy jsonb, user_id uuid,
                       password_hash varchar, user_status varchar, token_version integer,
                       locked_until timestamptz, tenant_status varchar, tenant_slug varchar,
                       scopes text[])
        LANGUAGE plpgsql VOLATILE
        SET search_path = pg_catalog, public
        AS $$
        #variable_conflict use_column
        DECLARE
            found uuid;
        BEGIN
            found := public.tessera_enter_tenant_by_slug(p_slug);
            IF found IS NULL THEN
                RETURN;
            END IF;
            RETURN QUERY
                SELECT t.id, t.policy, u.id, u.password_hash, u.status, u.token_version,
                       u.locked_until, t.status, t.slug,
                       CASE WHEN u.id IS NOT NULL
                            THEN public.tessera_user_scopes(t.id, u.id, p_now) END
                FROM public.tenants t
                LEFT JOIN public.users u ON u.tenant_id = t.id AND {email_match}
                WHERE t.id = found;
        END
        $$
        """  # noqa: S608 (email_match is one of two fixed strings of this file)
