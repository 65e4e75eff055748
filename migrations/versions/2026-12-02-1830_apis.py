"""Product APIs and their scopes: platform-level reference tables (issue 16).

No tenant_id: every tenant of the SaaS uses the same product. Everyone reads them;
row-level security lets only platform operators write. Tessera's own API is built in
and stays out of these tables.

Revision ID: 7b1d4e2a9c30
Revises: 5b1d7e0c9a42
Create Date: 2026-12-02 18:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7b1d4e2a9c30"
down_revision: str | None = "5b1d7e0c9a42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "apis",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("identifier", sa.String(300), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.String(500), server_default="", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_apis"),
        sa.UniqueConstraint("identifier", name="uq_apis_identifier"),
    )
    op.create_table(
        "api_scopes",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("api_id", sa.Uuid(), nullable=False),
        sa.Column("description", sa.String(500), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["api_id"], ["apis.id"], name="fk_api_scopes_api_id_apis", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("name", name="pk_api_scopes"),
    )
    op.create_index("ix_api_scopes_api_id", "api_scopes", ["api_id"])
    # Every principal reads them (a login narrows scopes by them); only a transaction
    # with app.platform = 'on', a platform operator's or the apply command's, writes.
    for table in ("apis", "api_scopes"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY everyone_reads ON {table} FOR SELECT USING (true)")
        op.execute(
            f"CREATE POLICY platform_operator ON {table} "
            "USING (current_setting('app.platform', true) = 'on') "
            "WITH CHECK (current_setting('app.platform', true) = 'on')"
        )


def downgrade() -> None:
    op.drop_index("ix_api_scopes_api_id", table_name="api_scopes")
    op.drop_table("api_scopes")
    op.drop_table("apis")
