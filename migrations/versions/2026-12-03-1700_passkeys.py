"""Passkeys (WebAuthn) as factors (issue 19 item 2).

- factors: a credential's transports, whether it is discoverable, backup-eligible and
  backed up; a credential id is registered once per tenant;
- webauthn_challenges: a ceremony's challenge until its answer uses it up, tenant-owned
  behind the usual tenant policy.

Revision ID: 7b2d4f6a8c10
Revises: 5d1f0b7a9e63
Create Date: 2026-12-03 17:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.rls import isolate_tenant_table, release_tenant_table

revision: str = "7b2d4f6a8c10"
down_revision: str | None = "5d1f0b7a9e63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "factors",
        sa.Column("transports", sa.String(length=200), server_default="", nullable=False),
    )
    op.add_column("factors", sa.Column("discoverable", sa.Boolean(), nullable=True))
    op.add_column("factors", sa.Column("backup_eligible", sa.Boolean(), nullable=True))
    op.add_column("factors", sa.Column("backed_up", sa.Boolean(), nullable=True))
    op.create_index(
        "ix_factors_tenant_id_credential_id",
        "factors",
        ["tenant_id", "credential_id"],
        unique=True,
        postgresql_where=sa.text("credential_id IS NOT NULL"),
    )
    op.create_table(
        "webauthn_challenges",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column(
            "ceremony",
            sa.Enum(
                "registration",
                "second_factor",
                "sign_in",
                name="webauthn_ceremony",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("challenge", sa.LargeBinary(length=32), nullable=False),
        sa.Column("label", sa.String(length=100), server_default="", nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_webauthn_challenges_tenant_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_webauthn_challenges")),
    )
    op.create_index(
        "ix_webauthn_challenges_tenant_id_challenge",
        "webauthn_challenges",
        ["tenant_id", "challenge"],
        unique=True,
    )
    op.create_index(
        "ix_webauthn_challenges_tenant_id_user_id",
        "webauthn_challenges",
        ["tenant_id", "user_id"],
        unique=False,
    )
    for statement in isolate_tenant_table("webauthn_challenges"):
        op.execute(statement)


def downgrade() -> None:
    for statement in release_tenant_table("webauthn_challenges"):
        op.execute(statement)
    op.drop_index("ix_webauthn_challenges_tenant_id_user_id", table_name="webauthn_challenges")
    op.drop_index("ix_webauthn_challenges_tenant_id_challenge", table_name="webauthn_challenges")
    op.drop_table("webauthn_challenges")
    op.drop_index("ix_factors_tenant_id_credential_id", table_name="factors")
    op.drop_column("factors", "backed_up")
    op.drop_column("factors", "backup_eligible")
    op.drop_column("factors", "discoverable")
    op.drop_column("factors", "transports")
