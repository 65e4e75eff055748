-- A refresh's rotation in one statement: bind the tenant, find the presented token,
-- lock its family, re-read the token under the lock and rotate it (mark it used, insert
-- the successor whose hash the caller derived); or tell a grace-window repeat, a reuse,
-- or why the token is refused. It changes nothing on refusal or reuse: the caller
-- revokes the family and audits a reuse (the family's row lock is held by then).
CREATE OR REPLACE FUNCTION tessera_rotate_refresh_token(
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
$$;
