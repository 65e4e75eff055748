"""One name per concept: `user_roles` becomes `grants`, and grant audit actions `grant.*`.

The table keeps its rows, row-level security policy and privileges (they follow the
table); its constraints and index are renamed to what the naming convention gives the
new name, and tessera_user_grants, which reads the table by name, is installed again
reading `grants`.

Stored audit events are renamed with their actions, so a filter on one name finds
every event of its kind: role.assigned -> grant.given, role.unassigned ->
grant.revoked, role.grant_expired -> grant.expired. The application may not rewrite
the audit log (UPDATE is revoked from its role); the migration, run as the owner, may.
Row-level security is lifted from audit_events for the rename only, inside this
transaction, since the owner is bound by the forced policy too.

Revision ID: e4eac59174f9
Revises: 3f7a2c9e1b64
Create Date: 2026-12-02 11:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e4eac59174f9"
down_revision: str | None = "3f7a2c9e1b64"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (old, new) names of the table's constraints and index.
_CONSTRAINTS = (
    ("pk_user_roles", "pk_grants"),
    ("fk_user_roles_tenant_id_role_id_roles", "fk_grants_tenant_id_role_id_roles"),
    ("fk_user_roles_tenant_id_user_id_users", "fk_grants_tenant_id_user_id_users"),
    ("ck_user_roles_expires_at_readable", "ck_grants_expires_at_readable"),
)
_INDEXES = (("ix_user_roles_tenant_id_role_id", "ix_grants_tenant_id_role_id"),)
_ACTIONS = (
    ("role.assigned", "grant.given"),
    ("role.unassigned", "grant.revoked"),
    ("role.grant_expired", "grant.expired"),
)


def upgrade() -> None:
    _rename_table("user_roles", "grants", _CONSTRAINTS, _INDEXES)
    op.execute(_user_grants("public.grants", "g"))
    _rename_actions(_ACTIONS)


def downgrade() -> None:
    _rename_actions(tuple((new, old) for old, new in _ACTIONS))
    op.execute(_user_grants("public.user_roles", "ur"))
    undo = tuple((new, old) for old, new in _CONSTRAINTS)
    _rename_table("grants", "user_roles", undo, tuple((new, old) for old, new in _INDEXES))


def _rename_table(
    old: str,
    new: str,
    constraints: tuple[tuple[str, str], ...],
    indexes: tuple[tuple[str, str], ...],
) -> None:
    op.execute(f"ALTER TABLE {old} RENAME TO {new}")
    for before, after in constraints:
        op.execute(f"ALTER TABLE {new} RENAME CONSTRAINT {before} TO {after}")
    for before, after in indexes:
        op.execute(f"ALTER INDEX {before} RENAME TO {after}")


def _rename_actions(renames: tuple[tuple[str, str], ...]) -> None:
    op.execute("ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY")
    for before, after in renames:
        op.execute(
            f"UPDATE audit_events SET action = '{after}' WHERE action = '{before}'"  # noqa: S608
        )
    op.execute("ALTER TABLE audit_events FORCE ROW LEVEL SECURITY")


# tessera_user_grants as backend/db/sql/tessera_user_grants.sql has it at this revision,
# but for the table it reads and its alias (fixed strings of this file, never input).
def _user_grants(table: str, a: str) -> str:
    return f"""
    CREATE OR REPLACE FUNCTION tessera_user_grants(
        p_tenant uuid, p_user uuid, p_now timestamptz,
        OUT scopes text[], OUT lapsing text[], OUT lapses timestamptz[])
    -- plpgsql, not sql: a non-inlined SQL function plans its query on every call;
    -- plpgsql keeps the plan for the session.
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, public
    AS $$
    BEGIN
        WITH RECURSIVE reached(role_id, expires_at) AS (
            SELECT {a}.role_id, {a}.expires_at FROM {table} {a}
            WHERE {a}.tenant_id = p_tenant AND {a}.user_id = p_user
              AND ({a}.expires_at IS NULL OR {a}.expires_at > p_now)
          UNION
            SELECT ri.included_role_id, r.expires_at
            FROM public.role_includes ri JOIN reached r ON r.role_id = ri.role_id
            WHERE ri.tenant_id = p_tenant
        ), held AS (
            -- A scope lasts as long as the longest-lived grant that reaches it.
            SELECT rs.scope::text AS scope,
                   CASE WHEN bool_or(r.expires_at IS NULL) THEN NULL
                        ELSE max(r.expires_at) END AS lapse
            FROM public.role_scopes rs JOIN reached r ON r.role_id = rs.role_id
            WHERE rs.tenant_id = p_tenant
            GROUP BY rs.scope
        )
        -- One pass over the rows feeds every aggregate in the same order, so
        -- lapsing and lapses stay parallel without sorting.
        SELECT coalesce(array_agg(h.scope), '{{}}'),
               coalesce(array_agg(h.scope) FILTER (WHERE h.lapse IS NOT NULL), '{{}}'),
               coalesce(array_agg(h.lapse) FILTER (WHERE h.lapse IS NOT NULL), '{{}}')
        INTO scopes, lapsing, lapses
        FROM held h;
    END
    $$;
    """  # noqa: S608
