"""Clients: the applications users sign in to, a platform-level reference table.

Not tenant-owned (one client serves every tenant), so no tenant_id. Row-level
security still guards writes: every transaction may read a client (/authorize and
/token look them up before any tenant is known), but only one that has set
app.platform = 'on', as the service layer does for platform operators, may write.

Revision ID: 5b1d7e0c9a42
Revises: e4eac59174f9
Create Date: 2026-12-02 17:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1d7e0c9a42"
down_revision: str | None = "e4eac59174f9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ARRAYS = (
    "redirect_uris",
    "post_logout_redirect_uris",
    "allowed_origins",
    "grant_types",
    "resources",
)


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "public",
                "confidential",
                name="client_type",
                native_enum=False,
                length=16,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("secret_prefix", sa.String(length=16), nullable=True),
        *(
            sa.Column(name, sa.ARRAY(sa.Text()), server_default="{}", nullable=False)
            for name in _ARRAYS
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_clients_client_id")),
    )
    op.execute("ALTER TABLE clients ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE clients FORCE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY everyone_reads ON clients FOR SELECT USING (true)")
    op.execute(
        "CREATE POLICY platform_operator ON clients "
        "USING (current_setting('app.platform', true) = 'on') "
        "WITH CHECK (current_setting('app.platform', true) = 'on')"
    )


def downgrade() -> None:
    op.drop_table("clients")
