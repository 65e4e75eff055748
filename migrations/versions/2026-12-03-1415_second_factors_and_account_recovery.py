"""Second factors and account recovery (issue 19).

- factors: a user's TOTP secrets (sealed) and WebAuthn credentials;
- recovery_codes: single-use codes, hashed;
- mfa_challenges: a password login waiting for its second factor (the `mfa_token`);
- account_tokens: mailed one-time tokens, password resets and email verifications;
- users.email_verified_at, and refresh_families.amr: how the session's login
  authenticated, which every refresh carries on.

Every new table is tenant-owned, behind the usual tenant policy.

Revision ID: 28c5a26a118d
Revises: 9e3c5a7b1d20
Create Date: 2026-12-03 14:15:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.rls import isolate_tenant_table, release_tenant_table

revision: str = "28c5a26a118d"
down_revision: str | None = "9e3c5a7b1d20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_TABLES = ("account_tokens", "factors", "mfa_challenges", "recovery_codes")


def upgrade() -> None:
    op.create_table(
        "account_tokens",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                "password_reset",
                "email_verify",
                name="account_token_purpose",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_fingerprint", sa.LargeBinary(length=32), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_account_tokens_tenant_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_account_tokens")),
        sa.UniqueConstraint(
            "tenant_id", "token_hash", name=op.f("uq_account_tokens_tenant_id_token_hash")
        ),
    )
    op.create_index(
        "ix_account_tokens_tenant_id_user_id",
        "account_tokens",
        ["tenant_id", "user_id"],
        unique=False,
    )
    op.create_table(
        "factors",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "totp",
                "webauthn",
                name="factor_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("secret", sa.LargeBinary(), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.Column("credential_id", sa.LargeBinary(), nullable=True),
        sa.Column("public_key", sa.LargeBinary(), nullable=True),
        sa.Column("sign_count", sa.BigInteger(), nullable=True),
        sa.Column("label", sa.String(length=100), server_default="", nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_factors_tenant_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_factors")),
    )
    op.create_index(
        "ix_factors_tenant_id_user_id", "factors", ["tenant_id", "user_id"], unique=False
    )
    op.create_table(
        "mfa_challenges",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.String(length=300), server_default="", nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_mfa_challenges_tenant_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_mfa_challenges")),
    )
    op.create_index(
        "ix_mfa_challenges_tenant_id_token_hash",
        "mfa_challenges",
        ["tenant_id", "token_hash"],
        unique=True,
    )
    op.create_table(
        "recovery_codes",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_recovery_codes_tenant_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_recovery_codes")),
    )
    op.create_index(
        "ix_recovery_codes_tenant_id_user_id",
        "recovery_codes",
        ["tenant_id", "user_id"],
        unique=False,
    )
    op.add_column(
        "refresh_families",
        sa.Column("amr", sa.String(length=64), server_default="pwd", nullable=False),
    )
    op.add_column(
        "users", sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True)
    )
    for table in NEW_TABLES:
        for statement in isolate_tenant_table(table):
            op.execute(statement)


def downgrade() -> None:
    for table in NEW_TABLES:
        for statement in release_tenant_table(table):
            op.execute(statement)
    op.drop_column("users", "email_verified_at")
    op.drop_column("refresh_families", "amr")
    op.drop_index("ix_recovery_codes_tenant_id_user_id", table_name="recovery_codes")
    op.drop_table("recovery_codes")
    op.drop_index("ix_mfa_challenges_tenant_id_token_hash", table_name="mfa_challenges")
    op.drop_table("mfa_challenges")
    op.drop_index("ix_factors_tenant_id_user_id", table_name="factors")
    op.drop_table("factors")
    op.drop_index("ix_account_tokens_tenant_id_user_id", table_name="account_tokens")
    op.drop_table("account_tokens")
