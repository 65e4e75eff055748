"""Sessions keep the API their tokens are for (RFC 8707 `resource`, issue 16).

NULL is Tessera's own API, so every session opened before this keeps working as it did.

Revision ID: 3c8e5a1f7d24
Revises: 28c5a26a118d
Create Date: 2026-12-03 14:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c8e5a1f7d24"
down_revision: str | None = "28c5a26a118d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("refresh_families", sa.Column("resource", sa.String(300), nullable=True))


def downgrade() -> None:
    op.drop_column("refresh_families", "resource")
