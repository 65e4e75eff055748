"""The ASGI application factory."""

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from backend.api.cors import ClientCorsMiddleware
from backend.api.docs import install_docs
from backend.api.errors import install_error_handlers
from backend.api.links import install_links
from backend.api.middleware import EdgeMiddleware
from backend.api.operation_ids import operation_id
from backend.api.routes import (
    api_keys,
    audit,
    auth,
    clients,
    factors,
    health,
    introspection,
    invitation_page,
    invitations,
    logout,
    me,
    passkey_sign_in,
    recovery,
    recovery_pages,
    service_accounts,
    sessions,
    sign_in,
    userinfo,
    users,
    wellknown,
)
from backend.api.routes import apis as api_routes
from backend.api.routes import grants as grant_routes
from backend.api.routes import lifecycle as lifecycle_routes
from backend.api.routes import metrics as metrics_routes
from backend.api.routes import roles as role_routes
from backend.api.routes import scopes as scope_routes
from backend.api.routes import standings as standing_routes
from backend.api.routes import tenants as tenant_routes
from backend.api.routing import skip_unfitting_routers
from backend.heap import settled_heap
from backend.observability.logging import configure_logging
from backend.runtime import Runtime
from backend.settings import Settings, get_settings

# How long start-up waits for the principal cache's subscription (not at all when Redis
# refuses): serving before it would keep nothing from the first requests.
PRINCIPAL_CACHE_START_SECONDS = 2.0


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API. Tests pass their own settings; uvicorn uses the environment's."""
    resolved = settings or get_settings()
    # Here rather than in the lifespan: uvicorn calls the factory before it logs that
    # it started, so every line of every worker process is JSON.
    configure_logging(resolved.log_level, resolved.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = Runtime.from_settings(resolved)
        # Only the API serves from the principal cache; workers and the CLI just publish.
        await anyio.to_thread.run_sync(
            functools.partial(
                app.state.runtime.principal_cache.listen, wait=PRINCIPAL_CACHE_START_SECONDS
            )
        )
        try:
            with settled_heap(resolved.gc_gen0_threshold):
                yield
        finally:
            app.state.runtime.close()

    app = FastAPI(
        title="Tessera",
        summary="Multi-tenant identity and authorization: tenants, users, roles, scopes.",
        version="0.1.0",
        lifespan=lifespan,
        swagger_ui_parameters={"persistAuthorization": True},
        generate_unique_id_function=operation_id,
        # Served by install_docs from local assets: the defaults load from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    install_links(app)
    install_error_handlers(app)
    # Inside the edge, so that its answers to preflights get the security headers too.
    app.add_middleware(ClientCorsMiddleware)
    # Request id, security headers and metrics, outside every other middleware of the app.
    app.add_middleware(EdgeMiddleware)
    app.include_router(health.router)
    app.include_router(metrics_routes.router)
    app.include_router(auth.router)
    app.include_router(introspection.router)
    app.include_router(me.router)
    app.include_router(factors.router)
    app.include_router(recovery.router)
    app.include_router(recovery_pages.router)
    app.include_router(sessions.router)
    app.include_router(service_accounts.router)
    app.include_router(api_keys.router)
    app.include_router(wellknown.router)
    app.include_router(users.router)
    app.include_router(invitations.router)
    app.include_router(invitation_page.router)
    app.include_router(sign_in.router)
    app.include_router(passkey_sign_in.router)
    app.include_router(logout.router)
    app.include_router(userinfo.router)
    app.include_router(audit.router)
    app.include_router(lifecycle_routes.router)
    app.include_router(tenant_routes.router)
    app.include_router(clients.router)
    app.include_router(scope_routes.router)
    app.include_router(role_routes.router)
    app.include_router(grant_routes.router)
    app.include_router(api_routes.router)
    app.include_router(standing_routes.router)
    skip_unfitting_routers(app)
    return app
