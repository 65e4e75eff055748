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

Revision ID: 5e1c0a7b9d24
Revises: ba20b84701ff
Create Date: 2026-11-30 14:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e1c0a7b9d24"
down_revision: str | None = "ba20b84701ff"
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


def downgrade() -> None:
    op.drop_index("uq_users_tenant_id_email_lower", table_name="users")
    op.create_index(
        "uq_users_tenant_id_email", "users", ["tenant_id", sa.text("lower(email)")], unique=True
    )
    op.drop_column("users", "email_lower")
