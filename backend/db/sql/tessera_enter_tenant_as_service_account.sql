-- tessera_enter_tenant_as for a service account: a revoked account reads as 'disabled'.
CREATE OR REPLACE FUNCTION tessera_enter_tenant_as_service_account(p_tenant uuid, p_account uuid)
RETURNS TABLE (user_status varchar, token_version integer, tenant_status varchar)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, public
AS $$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    RETURN QUERY
        SELECT CASE WHEN a.revoked_at IS NULL THEN 'active' ELSE 'disabled' END::varchar,
               a.token_version, t.status
        FROM public.service_accounts a JOIN public.tenants t ON t.id = a.tenant_id
        WHERE a.tenant_id = p_tenant AND a.id = p_account;
END
$$;
