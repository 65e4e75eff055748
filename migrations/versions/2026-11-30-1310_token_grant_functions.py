"""One round trip for each step of the token grants.

`POST /token` spent most of its time on round trips: a refresh was about a dozen
statements (bind the tenant, token lookup, family lock, re-read, two writes, tenant,
user, three queries for the role graph, the grants) and a login about ten. Three
functions, all with the caller's rights (no SECURITY DEFINER: row-level security
applies to every read and write in them, and each binds the tenant it is given):

- tessera_user_scopes: a user's scopes, the union over the closure of their unexpired
  roles (role_includes walked recursively), in one query;
- tessera_token_subject: bind the tenant, read the user's and the tenant's standing and
  the user's scopes;
- tessera_login_subject: resolve the tenant slug (through the SECURITY DEFINER
  tessera_enter_tenant_by_slug, which binds the tenant), then read the tenant, the user
  by email (lower-cased by the caller) and the user's scopes: no row for an unknown
  tenant, null user columns for an unknown user;
- tessera_rotate_refresh_token: bind the tenant, find the presented token, lock its
  family, re-read the token under the lock and rotate it (mark it used, insert the
  successor whose hash the caller derived); or tell a grace-window repeat, or a reuse,
  or why the token is refused. It changes nothing on refusal or reuse: the caller
  revokes the family and audits a reuse (the family's row lock is held by then).

Revision ID: 5e1d3c9a7b20
Revises: ba20b84701ff
Create Date: 2026-11-30 13:10:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5e1d3c9a7b20"
down_revision: str | None = "ba20b84701ff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION tessera_user_scopes(p_tenant uuid, p_user uuid, p_now timestamptz)
        RETURNS text[]
        -- plpgsql, not sql: a non-inlined SQL function plans its query on every call
        -- (~0.3 ms for this one); plpgsql keeps the plan for the session.
        LANGUAGE plpgsql STABLE
        SET search_path = pg_catalog, public
        AS $$
        BEGIN
            RETURN (
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
            );
        END
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION tessera_token_subject(p_tenant uuid, p_user uuid, p_now timestamptz)
        RETURNS TABLE (user_status varchar, token_version integer, locked_until timestamptz,
                       tenant_status varchar, tenant_slug varchar, scopes text[])
        LANGUAGE plpgsql VOLATILE
        SET search_path = pg_catalog, public
        AS $$
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant::text, true);
            RETURN QUERY
                SELECT u.status, u.token_version, u.locked_until, t.status, t.slug,
                       public.tessera_user_scopes(p_tenant, p_user, p_now)
                FROM public.users u JOIN public.tenants t ON t.id = u.tenant_id
                WHERE u.tenant_id = p_tenant AND u.id = p_user;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION tessera_login_subject(p_slug text, p_email text, p_now timestamptz)
        RETURNS TABLE (tenant_id uuid, tenant_policy jsonb, user_id uuid,
                       password_hash varchar, user_status varchar, token_version integer,
                       locked_until timestamptz, tenant_status varchar, tenant_slug varchar,
                       scopes text[])
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
                       u.locked_until, t.status, t.slug,
                       CASE WHEN u.id IS NOT NULL
                            THEN public.tessera_user_scopes(t.id, u.id, p_now) END
                FROM public.tenants t
                LEFT JOIN public.users u ON u.tenant_id = t.id AND lower(u.email) = p_email
                WHERE t.id = found;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION tessera_rotate_refresh_token(
            p_tenant uuid, p_token_hash bytea, p_successor_hash bytea, p_now timestamptz,
            p_idle_ttl interval, p_reuse_grace interval)
        RETURNS TABLE (outcome text, family_id uuid, user_id uuid, token_id uuid,
                       scope text, used_at timestamptz)
        LANGUAGE plpgsql VOLATILE
        SET search_path = pg_catalog, public
        AS $$
        #variable_conflict use_column
        DECLARE
            fam public.refresh_families%ROWTYPE;
            tok public.refresh_tokens%ROWTYPE;
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant::text, true);
            -- Serialises every rotation (and revocation) of this family.
            SELECT f.* INTO fam
            FROM public.refresh_families f
            JOIN public.refresh_tokens t ON t.tenant_id = f.tenant_id AND t.family_id = f.id
            WHERE t.tenant_id = p_tenant AND t.token_hash = p_token_hash
            FOR UPDATE OF f;
            IF NOT FOUND THEN
                outcome := 'unknown';
                RETURN NEXT;
                RETURN;
            END IF;
            -- Read again under the lock (a new snapshot): a concurrent rotation of the
            -- same token has committed by now.
            SELECT t.* INTO tok
            FROM public.refresh_tokens t
            WHERE t.tenant_id = p_tenant AND t.token_hash = p_token_hash;
            IF NOT FOUND THEN
                -- Deleted meanwhile (a sweep of dead tokens): as unknown as never issued.
                outcome := 'unknown';
                RETURN NEXT;
                RETURN;
            END IF;
            family_id := fam.id;
            user_id := fam.user_id;
            token_id := tok.id;
            scope := tok.scope;
            used_at := tok.used_at;
            IF fam.revoked_at IS NOT NULL THEN
                outcome := 'session_ended';
            ELSIF fam.expires_at <= p_now THEN
                outcome := 'session_expired';
            ELSIF tok.used_at IS NULL AND tok.revoked_at IS NULL THEN
                IF tok.expires_at <= p_now THEN
                    outcome := 'token_expired';
                ELSE
                    UPDATE public.refresh_tokens t SET used_at = p_now
                    WHERE t.tenant_id = p_tenant AND t.id = tok.id;
                    INSERT INTO public.refresh_tokens
                        (tenant_id, id, family_id, user_id, token_hash, scope,
                         issued_at, expires_at)
                    VALUES (p_tenant, gen_random_uuid(), fam.id, fam.user_id, p_successor_hash,
                            tok.scope, p_now, least(p_now + p_idle_ttl, fam.expires_at));
                    outcome := 'rotated';
                END IF;
            ELSIF tok.used_at IS NOT NULL AND tok.revoked_at IS NULL
                  AND p_reuse_grace > interval '0' AND p_now - tok.used_at <= p_reuse_grace
                  AND EXISTS (
                      SELECT 1 FROM public.refresh_tokens s
                      WHERE s.tenant_id = p_tenant AND s.token_hash = p_successor_hash
                        AND s.used_at IS NULL AND s.revoked_at IS NULL) THEN
                outcome := 'repeated';
            ELSE
                outcome := 'reused';
            END IF;
            IF outcome IN ('rotated', 'repeated') THEN
                UPDATE public.refresh_families f SET last_used_at = p_now
                WHERE f.tenant_id = p_tenant AND f.id = fam.id;
            END IF;
            RETURN NEXT;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION tessera_rotate_refresh_token"
        "(uuid, bytea, bytea, timestamptz, interval, interval)"
    )
    op.execute("DROP FUNCTION tessera_login_subject(text, text, timestamptz)")
    op.execute("DROP FUNCTION tessera_token_subject(uuid, uuid, timestamptz)")
    op.execute("DROP FUNCTION tessera_user_scopes(uuid, uuid, timestamptz)")
