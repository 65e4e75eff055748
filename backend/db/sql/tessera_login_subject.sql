-- A login's one read before the password hash: resolve the tenant slug (through the
-- SECURITY DEFINER tessera_enter_tenant_by_slug, which binds the tenant), then read the
-- tenant, the user by email and the user's scopes with the caller's rights. No row for
-- an unknown tenant, null user columns for an unknown user. The email is matched on the
-- stored `email_lower` (one index lookup), lower-cased the way that column is.
CREATE OR REPLACE FUNCTION tessera_login_subject(
    p_slug text, p_email text, p_now timestamptz)
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
        LEFT JOIN public.users u ON u.tenant_id = t.id AND u.email_lower = lower(p_email)
        WHERE t.id = found;
END
$$;
