"""Audit events record the client address of the request that caused them.

Revision ID: 3fa408f8ebf0
Revises: 3f9b2c71d8e0
Create Date: 2026-11-23 13:02:24.741159+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3fa408f8ebf0"
down_revision: str | None = "3f9b2c71d8e0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("client_ip", sa.String(length=45), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_events", "client_ip")
