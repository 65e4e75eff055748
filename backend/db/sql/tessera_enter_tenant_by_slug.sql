-- Login's way into a tenant: the one lookup across tenants. SECURITY DEFINER (the owner
-- sees past row-level security) with its search_path pinned, and it returns nothing but
-- the id; it binds the transaction to the tenant it finds. The application role gets
-- EXECUTE from the migrations' grants, nobody else does.
CREATE OR REPLACE FUNCTION tessera_enter_tenant_by_slug(p_slug text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
    found uuid;
BEGIN
    SELECT t.id INTO found FROM public.tenants t WHERE t.slug = p_slug;
    IF found IS NOT NULL THEN
        PERFORM set_config('app.tenant_id', found::text, true);
    END IF;
    RETURN found;
END
$$;

REVOKE ALL ON FUNCTION tessera_enter_tenant_by_slug(text) FROM PUBLIC;
