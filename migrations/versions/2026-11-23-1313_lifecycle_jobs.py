"""Lifecycle jobs: one tracked row per on-demand job, tenant-owned.

Also an index for the inactivity sweep, which looks for active users by last login.

Revision ID: ba20b84701ff
Revises: fc6d18236c74
Create Date: 2026-11-23 13:13:11.697313+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.db.rls import isolate_tenant_table, release_tenant_table

revision: str = "ba20b84701ff"
down_revision: str | None = "fc6d18236c74"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "succeeded",
                "failed",
                name="job_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            server_default="queued",
            nullable=False,
        ),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("progress_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_jobs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_jobs")),
    )
    op.create_index(
        "ix_jobs_tenant_id_created_at", "jobs", ["tenant_id", "created_at"], unique=False
    )

    for statement in isolate_tenant_table("jobs"):
        op.execute(statement)
    op.create_index("ix_users_tenant_id_last_login_at", "users", ["tenant_id", "last_login_at"])


def downgrade() -> None:
    op.drop_index("ix_users_tenant_id_last_login_at", table_name="users")
    for statement in release_tenant_table("jobs"):
        op.execute(statement)
    op.drop_index("ix_jobs_tenant_id_created_at", table_name="jobs")
    op.drop_table("jobs")
