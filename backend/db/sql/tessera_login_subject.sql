-- A login's one read before the password hash: resolve the tenant slug (through the
-- SECURITY DEFINER tessera_enter_tenant_by_slug, which binds the tenant), then read the
-- tenant, the user by email, the user's scopes and when each lapses, with the caller's
-- rights. No row for an unknown tenant, null user columns (and scopes) for an unknown
-- user. The email is matched on the stored `email_lower` (one index lookup), lower-cased
-- by PostgreSQL as that column is.
CREATE OR REPLACE FUNCTION tessera_login_subject(p_slug text, p_email text, p_now timestamptz)
RETURNS TABLE (tenant_id uuid, tenant_policy jsonb, user_id uuid,
               password_hash varchar, user_status varchar, token_version integer,
               locked_until timestamptz, tenant_status varchar, tenant_slug varchar,
               scopes text[], lapsing text[], lapses timestamptz[])
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
               u.locked_until, t.status, t.slug, g.scopes, g.lapsing, g.lapses
        FROM public.tenants t
        LEFT JOIN public.users u ON u.tenant_id = t.id AND u.email_lower = lower(p_email)
        LEFT JOIN LATERAL public.tessera_user_grants(t.id, u.id, p_now) g ON u.id IS NOT NULL
        WHERE t.id = found;
END
$$;
