-- A user's scopes: the `scopes` of tessera_user_grants, so the expansion is written
-- once in SQL. For callers that need no lapses (services/roles.py, effective_scopes).
CREATE OR REPLACE FUNCTION tessera_user_scopes(
    p_tenant uuid, p_user uuid, p_now timestamptz)
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public
AS $$
BEGIN
    RETURN (SELECT g.scopes FROM public.tessera_user_grants(p_tenant, p_user, p_now) g);
END
$$;
