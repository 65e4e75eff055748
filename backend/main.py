"""The ASGI application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from backend.api.errors import install_error_handlers
from backend.api.middleware import RequestContextMiddleware
from backend.api.routes import api_keys, auth, health, me, service_accounts, sessions, wellknown
from backend.runtime import Runtime
from backend.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API. Tests pass their own settings; uvicorn uses the environment's."""
    resolved = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = Runtime.from_settings(resolved)
        try:
            yield
        finally:
            app.state.runtime.close()

    app = FastAPI(
        title="Tessera",
        summary="Multi-tenant identity and authorization: tenants, users, roles, scopes.",
        version="0.1.0",
        lifespan=lifespan,
        swagger_ui_parameters={"persistAuthorization": True},
    )
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(me.router)
    app.include_router(sessions.router)
    app.include_router(service_accounts.router)
    app.include_router(api_keys.router)
    app.include_router(wellknown.router)
    return app
