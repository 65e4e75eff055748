"""Admin API: invitations, a platform operator's view of tenants.

- invitations: tenant-owned, behind the usual tenant policy;
- tenants gets a second, permissive policy for platform operators: rows are visible
  and writable when the transaction has set app.platform = 'on', which the service
  layer does only for a caller holding a platform scope in the platform tenant.

Revision ID: fc6d18236c74
Revises: 3fa408f8ebf0
Create Date: 2026-11-23 13:08:15.350347+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.rls import isolate_tenant_table, release_tenant_table

revision: str = "fc6d18236c74"
down_revision: str | None = "3fa408f8ebf0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_invitations_tenant_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_invitations")),
        sa.UniqueConstraint(
            "tenant_id", "token_hash", name=op.f("uq_invitations_tenant_id_token_hash")
        ),
    )

    for statement in isolate_tenant_table("invitations"):
        op.execute(statement)
    op.execute(
        "CREATE POLICY platform_operator ON tenants "
        "USING (current_setting('app.platform', true) = 'on') "
        "WITH CHECK (current_setting('app.platform', true) = 'on')"
    )


def downgrade() -> None:
    op.execute("DROP POLICY platform_operator ON tenants")
    for statement in release_tenant_table("invitations"):
        op.execute(statement)
    op.drop_table("invitations")
