"""Liveness and readiness probes, unguarded."""

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from backend.api.deps import AppRuntime
from backend.api.schemas.health import Health

router = APIRouter(tags=["health"])

Check = Literal["ok", "unavailable"]


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up and serving."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(runtime: AppRuntime) -> JSONResponse:
    """Ready to serve: PostgreSQL and Redis both answer."""
    checks: dict[str, Check] = {"database": "ok", "redis": "ok"}
    try:
        with runtime.database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        checks["database"] = "unavailable"
    try:
        runtime.redis.ping()
    except Exception:
        checks["redis"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    body = Health(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
