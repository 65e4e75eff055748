-- A refresh's read of its subject: bind the tenant, then the user's and the tenant's
-- standing, the user's scopes and when each lapses, in the statement that rotates the
-- refresh token.
CREATE OR REPLACE FUNCTION tessera_token_subject(p_tenant uuid, p_user uuid, p_now timestamptz)
RETURNS TABLE (user_status varchar, token_version integer, locked_until timestamptz,
               tenant_status varchar, tenant_slug varchar, scopes text[],
               lapsing text[], lapses timestamptz[])
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, public
AS $$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    RETURN QUERY
        SELECT u.status, u.token_version, u.locked_until, t.status, t.slug,
               g.scopes, g.lapsing, g.lapses
        FROM public.users u JOIN public.tenants t ON t.id = u.tenant_id
        CROSS JOIN LATERAL public.tessera_user_grants(p_tenant, p_user, p_now) g
        WHERE u.tenant_id = p_tenant AND u.id = p_user;
END
$$;
