"""The authorization code flow carries how the sign-in authenticated (issue 19).

`authorization_codes.amr` takes the login's RFC 8176 methods to the exchange, which gives
them to the session and the tokens; codes and sessions from before were passwords alone
(`pwd`, the column default). `mfa_challenges.session_id` names the browser session a
second factor steps up (OpenID Connect `acr_values`), NULL for a challenge after a
password. No foreign key, as for `authorization_codes.session_id`: a session may be swept
while a challenge's row remains.

Revision ID: 5d1f0b7a9e63
Revises: 3c8e5a1f7d24
Create Date: 2026-12-03 16:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d1f0b7a9e63"
down_revision: str | None = "3c8e5a1f7d24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "authorization_codes",
        sa.Column("amr", sa.String(64), nullable=False, server_default="pwd"),
    )
    op.add_column("mfa_challenges", sa.Column("session_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("mfa_challenges", "session_id")
    op.drop_column("authorization_codes", "amr")
