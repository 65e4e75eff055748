"""Browser sign-in: authorization codes, and browser sessions beside refresh sessions.

Codes are tenant-owned (the user's tenant), isolated by row-level security like every
such table. A browser session is a row of refresh_families with the hash of its cookie,
so every rule that ends sessions (password change, offboarding, deletion, the sweeps)
ends it too, and /me/sessions lists it.

Revision ID: 9e3c5a7b1d20
Revises: 7b1d4e2a9c30
Create Date: 2026-12-03 14:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.rls import isolate_tenant_table, release_tenant_table

revision: str = "9e3c5a7b1d20"
down_revision: str | None = "7b1d4e2a9c30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "authorization_codes",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("code_challenge", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("resource", sa.String(length=300), nullable=True),
        sa.Column("nonce", sa.String(length=500), nullable=True),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_authorization_codes_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_authorization_codes_tenant_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_authorization_codes")),
        sa.UniqueConstraint(
            "tenant_id", "code_hash", name=op.f("uq_authorization_codes_tenant_id_code_hash")
        ),
    )
    op.create_index("ix_authorization_codes_client_id", "authorization_codes", ["client_id"])
    for statement in isolate_tenant_table("authorization_codes"):
        op.execute(statement)
    op.add_column(
        "refresh_families",
        sa.Column("browser_secret_hash", sa.LargeBinary(length=32), nullable=True),
    )
    op.create_unique_constraint(
        op.f("uq_refresh_families_tenant_id_browser_secret_hash"),
        "refresh_families",
        ["tenant_id", "browser_secret_hash"],
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("uq_refresh_families_tenant_id_browser_secret_hash"), "refresh_families"
    )
    op.drop_column("refresh_families", "browser_secret_hash")
    for statement in release_tenant_table("authorization_codes"):
        op.execute(statement)
    op.drop_table("authorization_codes")
