-- A user's scopes and when each lapses, in one walk of their unexpired grants through
-- role_includes: `scopes` is every scope reached; `lapsing` and `lapses` are parallel
-- arrays, for each scope that lapses, when the last grant giving it expires (a scope
-- some grant gives for good never lapses and is not listed). Names no API has any more
-- come back too: a token keeps only its API's scopes (backend/services/audiences.py),
-- and the caller applies the platform rule. Service accounts, the explanations and the role-change
-- cut-off get the same expansion in Python (backend.domain.roles.RoleGraph);
-- tests/integration/services/test_roles.py proves that they agree.
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
        SELECT g.role_id, g.expires_at FROM public.grants g
        WHERE g.tenant_id = p_tenant AND g.user_id = p_user
          AND (g.expires_at IS NULL OR g.expires_at > p_now)
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
$$;
