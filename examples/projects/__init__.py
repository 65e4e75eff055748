"""The example product service: projects, per tenant, guarded by the tessera-fastapi kit."""
