-- The transaction's tenant, as the application set it (set_config('app.tenant_id', id,
-- true)); null when none is set. Every row-level security policy compares with it.
CREATE OR REPLACE FUNCTION tessera_current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;
