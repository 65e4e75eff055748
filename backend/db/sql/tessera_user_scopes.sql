-- A user's scopes: the union over the closure of their unexpired role grants
-- (role_includes walked recursively), in one query. Scopes retired from the catalogue
-- come back too; the caller drops them (backend.domain.scopes.known_scopes) and applies
-- the platform rule. Service accounts get the same expansion in Python
-- (backend.domain.roles.RoleGraph); tests/integration/services/test_roles.py proves
-- that the two agree.
CREATE OR REPLACE FUNCTION tessera_user_scopes(p_tenant uuid, p_user uuid, p_now timestamptz)
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
$$;
