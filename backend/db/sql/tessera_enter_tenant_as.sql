-- The guard's one statement for a user: bind the token's tenant, then read the user's
-- standing and the tenant's status with the caller's rights (under row-level security).
CREATE OR REPLACE FUNCTION tessera_enter_tenant_as(p_tenant uuid, p_user uuid)
RETURNS TABLE (user_status varchar, token_version integer, tenant_status varchar)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, public
AS $$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    RETURN QUERY
        SELECT u.status, u.token_version, t.status
        FROM public.users u JOIN public.tenants t ON t.id = u.tenant_id
        WHERE u.tenant_id = p_tenant AND u.id = p_user;
END
$$;
