"""User import: the rows of an import file, staged with their job, tenant-owned.

`tessera import users` stages every row of the file in the transaction that makes
the job; the worker imports the pending rows in batches and records each outcome, so
a job stopped half-way resumes at its first pending row.

Revision ID: 3f7a2c9e1b64
Revises: 7c4e2a91d0b3
Create Date: 2026-12-02 10:10:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.db.rls import isolate_tenant_table, release_tenant_table

revision: str = "3f7a2c9e1b64"
down_revision: str | None = "7c4e2a91d0b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_rows",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "pending",
                "imported",
                "exists",
                "rejected",
                name="import_outcome",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            server_default="pending",
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("full_name", sa.String(length=200), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "disabled",
                name="user_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("roles", postgresql.ARRAY(sa.String(length=100)), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "job_id"],
            ["jobs.tenant_id", "jobs.id"],
            name=op.f("fk_import_rows_tenant_id_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "job_id", "line", name=op.f("pk_import_rows")),
    )
    for statement in isolate_tenant_table("import_rows"):
        op.execute(statement)


def downgrade() -> None:
    for statement in release_tenant_table("import_rows"):
        op.execute(statement)
    op.drop_table("import_rows")
