"""Token grants learn when each scope lapses; stored expiries stay readable.

A lapsed time-bound grant kept granting through the access tokens issued before its
expiry, until they expired. The token grants now cap a token's `exp` at the first lapse
among its scopes, so the functions that read a subject for them also say when each
scope lapses:

- tessera_user_grants: one walk of the user's unexpired grants through role_includes
  giving their scopes (as tessera_user_scopes did) and, for each scope that lapses, when:
  when the last grant giving it expires; a scope some grant gives for good never lapses
  and is not listed. `lapsing` and `lapses` are parallel arrays.
- tessera_user_scopes: now the `scopes` of tessera_user_grants, so the expansion is
  written once.
- tessera_token_subject, tessera_login_subject: as before, plus `lapsing` and `lapses`
  (their result type changes, so they are dropped and created again).

An expiry was accepted up to what PostgreSQL stores (294276 AD), though Python, and so
the API, reads dates up to 9999 only: such a row made every read of it fail. The API
now refuses those; the CHECK constraints make the database refuse any expiry that
cannot be read back, in any session time zone (offsets stay within a day), whatever
writes it. Rows written before are brought within the range first: an expiry later
than 9998 becomes the last second of 9998 (it is no nearer a lapse in practice), and
one before year 1 the first second of year 1 (it had lapsed long since).

Revision ID: 7c4e2a91d0b3
Revises: 5e1c0a7b9d24
Create Date: 2026-12-02 09:10:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7c4e2a91d0b3"
down_revision: str | None = "5e1c0a7b9d24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The range a stored expiry must keep to (and the values rows out of it are given).
_FIRST = "0001-01-02 00:00:00+00"
_LAST = "9998-12-31 23:59:59+00"
_READABLE = f"expires_at BETWEEN '{_FIRST}' AND '{_LAST}'"
_BOUNDED = ("user_roles", "api_keys")


# What the token and login subjects select as scopes, before and after this revision.
_OLD_SCOPES = "public.tessera_user_scopes({tenant}, {user}, p_now)"
_NEW_SCOPES = "g.scopes, g.lapsing, g.lapses"
_NEW_COLUMNS = ", lapsing text[], lapses timestamptz[]"


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION tessera_user_grants(
            p_tenant uuid, p_user uuid, p_now timestamptz,
            OUT scopes text[], OUT lapsing text[], OUT lapses timestamptz[])
        -- plpgsql, not sql: a non-inlined SQL function plans its query on every call;
        -- plpgsql keeps the plan for the session.
        LANGUAGE plpgsql STABLE
        SET search_path = pg_catalog, public
        AS $$
        BEGIN
            WITH RECURSIVE reached(role_id, expires_at) AS (
                SELECT ur.role_id, ur.expires_at FROM public.user_roles ur
                WHERE ur.tenant_id = p_tenant AND ur.user_id = p_user
                  AND (ur.expires_at IS NULL OR ur.expires_at > p_now)
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
            SELECT coalesce(array_agg(h.scope), '{}'),
                   coalesce(array_agg(h.scope) FILTER (WHERE h.lapse IS NOT NULL), '{}'),
                   coalesce(array_agg(h.lapse) FILTER (WHERE h.lapse IS NOT NULL), '{}')
            INTO scopes, lapsing, lapses
            FROM held h;
        END
        $$
        """
    )
    op.execute(
        _user_scopes("(SELECT g.scopes FROM public.tessera_user_grants(p_tenant, p_user, p_now) g)")
    )
    op.execute("DROP FUNCTION tessera_token_subject(uuid, uuid, timestamptz)")
    op.execute(
        _token_subject(
            _NEW_COLUMNS,
            _NEW_SCOPES,
            "CROSS JOIN LATERAL public.tessera_user_grants(p_tenant, p_user, p_now) g",
        )
    )
    op.execute("DROP FUNCTION tessera_login_subject(text, text, timestamptz)")
    op.execute(
        _login_subject(
            _NEW_COLUMNS,
            _NEW_SCOPES,
            # Only for a known user: an unknown email reads null scopes.
            "LEFT JOIN LATERAL public.tessera_user_grants(t.id, u.id, p_now) g ON u.id IS NOT NULL",
        )
    )
    for table in _BOUNDED:
        op.execute(
            f"UPDATE {table} SET expires_at = CASE WHEN expires_at > '{_LAST}' "  # noqa: S608
            f"THEN timestamptz '{_LAST}' ELSE timestamptz '{_FIRST}' END "
            f"WHERE NOT ({_READABLE})"
        )
        op.create_check_constraint("expires_at_readable", table, _READABLE)


def downgrade() -> None:
    for table in _BOUNDED:
        op.drop_constraint("expires_at_readable", table, type_="check")
    op.execute("DROP FUNCTION tessera_login_subject(text, text, timestamptz)")
    op.execute(
        _login_subject(
            "",
            "CASE WHEN u.id IS NOT NULL THEN "
            + _OLD_SCOPES.format(tenant="t.id", user="u.id")
            + " END",
            "",
        )
    )
    op.execute("DROP FUNCTION tessera_token_subject(uuid, uuid, timestamptz)")
    op.execute(_token_subject("", _OLD_SCOPES.format(tenant="p_tenant", user="p_user"), ""))
    op.execute(
        _user_scopes(
            """(
                WITH RECURSIVE granted(role_id) AS (
                    SELECT ur.role_id FROM public.user_roles ur
                    WHERE ur.tenant_id = p_tenant AND ur.user_id = p_user
                      AND (ur.expires_at IS NULL OR ur.expires_at > p_now)
                  UNION
                    SELECT ri.included_role_id
                    FROM public.role_includes ri JOIN granted g ON g.role_id = ri.role_id
                    WHERE ri.tenant_id = p_tenant
                )
                SELECT coalesce(array_agg(DISTINCT rs.scope::text), '{}')
                FROM public.role_scopes rs JOIN granted g ON g.role_id = rs.role_id
                WHERE rs.tenant_id = p_tenant
            )"""
        )
    )
    op.execute("DROP FUNCTION tessera_user_grants(uuid, uuid, timestamptz)")


# The three functions as the previous revisions made them, but for what they read the
# scopes from. Their arguments are fixed strings of this file, never input.


def _user_scopes(returned: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION tessera_user_scopes(
            p_tenant uuid, p_user uuid, p_now timestamptz)
        RETURNS text[]
        LANGUAGE plpgsql STABLE
        SET search_path = pg_catalog, public
        AS $$
        BEGIN
            RETURN {returned};
        END
        $$
        """


def _token_subject(columns: str, scopes: str, joins: str) -> str:
    return f"""
        CREATE FUNCTION tessera_token_subject(p_tenant uuid, p_user uuid, p_now timestamptz)
        RETURNS TABLE (user_status varchar, token_version integer, locked_until timestamptz,
                       tenant_status varchar, tenant_slug varchar, scopes text[]{columns})
        LANGUAGE plpgsql VOLATILE
        SET search_path = pg_catalog, public
        AS $$
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant::text, true);
            RETURN QUERY
                SELECT u.status, u.token_version, u.locked_until, t.status, t.slug, {scopes}
                FROM public.users u JOIN public.tenants t ON t.id = u.tenant_id
                {joins}
                WHERE u.tenant_id = p_tenant AND u.id = p_user;
        END
        $$
        """  # noqa: S608


def _login_subject(columns: str, scopes: str, joins: str) -> str:
    return f"""
        CREATE FUNCTION tessera_login_subject(p_slug text, p_email text, p_now timestamptz)
        RETURNS TABLE (tenant_id uuid, tenant_policy jsonb, user_id uuid,
                       password_hash varchar, user_status varchar, token_version integer,
                       locked_until timestamptz, tenant_status varchar, tenant_slug varchar,
                       scopes text[]{columns})
        LANGUAGE plpgsql VOLATILE
        SET search_path = pg_catalog, public
        AS $$
        #variable_conflict use_column
        DECLARE
            found uuid;
        BEGIN
            found := public.tessera_enter_tenant_by_slug(p_slug);
            IF found IS NULL THEN
                RETURN;
            END IF;
            RETURN QUERY
                SELECT t.id, t.policy, u.id, u.password_hash, u.status, u.token_version,
                       u.locked_until, t.status, t.slug, {scopes}
                FROM public.tenants t
                LEFT JOIN public.users u ON u.tenant_id = t.id AND u.email_lower = lower(p_email)
                {joins}
                WHERE t.id = found;
        END
        $$
        """  # noqa: S608
