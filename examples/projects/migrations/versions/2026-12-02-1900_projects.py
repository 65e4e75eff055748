"""projects, under row-level security by tenant

Revision ID: 6a1e0c2f9b31
Revises:
Create Date: 2026-12-02 19:00:00 UTC
"""

from collections.abc import Sequence

from alembic import op

revision: str = "6a1e0c2f9b31"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# No tenant set (or an empty one, as a pooled connection has after a transaction that set
# it): NULL, which matches no row.
_TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE projects (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL,
            name text NOT NULL CONSTRAINT name_length CHECK (char_length(name) BETWEEN 1 AND 200),
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX projects_tenant_created ON projects (tenant_id, created_at, id)")
    op.execute("ALTER TABLE projects ENABLE ROW LEVEL SECURITY")
    # FORCE: the policy binds the owner too, so only a superuser can see past it.
    op.execute("ALTER TABLE projects FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON projects "
        f"USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
    )


def downgrade() -> None:
    op.execute("DROP TABLE projects")
