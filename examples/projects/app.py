"""The projects service: `uvicorn examples.projects.app:create_app --factory`.

Every route but /healthz is guarded by the kit; the caller's tenant binds each
transaction, so the database itself keeps tenants apart (a forgotten WHERE cannot leak).
"""

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import Engine, RowMapping, create_engine, delete, insert, select, update
from starlette.concurrency import run_in_threadpool
from tessera_fastapi import DiscoveryError, TesseraCaller, TesseraGuard

from examples.projects.db import NAME_MAX_LENGTH, projects, tenant_transaction
from examples.projects.settings import ApiDeclaration, ProjectsSettings

logger = logging.getLogger(__name__)

_DISCOVERY_RETRY_SECONDS = 0.5


def _storable(value: str) -> str:
    # PostgreSQL text holds neither NUL nor a lone surrogate (not encodable as UTF-8).
    if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
        raise ValueError("name must not contain NUL or unpaired surrogates")
    if not value.strip():
        raise ValueError("name must not be blank")
    return value


ProjectName = Annotated[
    str, Field(min_length=1, max_length=NAME_MAX_LENGTH), AfterValidator(_storable)
]


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ProjectName


class ProjectOut(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime


class ProjectList(BaseModel):
    items: list[ProjectOut]


def create_app(settings: ProjectsSettings | None = None) -> FastAPI:
    """The app, configured from PROJECTS_* variables unless settings are given."""
    settings = settings or ProjectsSettings.from_environ()
    api = ApiDeclaration.load()
    guard = TesseraGuard(
        issuer=settings.issuer,
        audience=api.identifier,
        scopes=api.scopes,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
    )
    engine = create_engine(settings.database_url, pool_pre_ping=True, hide_parameters=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await _discover(guard, settings.discovery_wait_seconds)
        try:
            yield
        finally:
            await run_in_threadpool(guard.close)
            engine.dispose()

    app = FastAPI(
        title="Projects (a Tessera example)",
        lifespan=lifespan,
        # /docs' Authorize: the code flow with PKCE on Tessera's sign-in page, as the
        # public client registered for these docs (make run registers it).
        swagger_ui_init_oauth=guard.swagger_ui_init_oauth(settings.docs_client_id),
    )
    # For wrappers of this app (the bench's): the pool and the guard it serves with.
    app.state.engine = engine
    app.state.guard = guard
    app.add_exception_handler(RequestValidationError, _invalid)
    _routes(app, guard, engine)
    return app


async def _discover(guard: TesseraGuard, wait_seconds: float) -> None:
    """guard.start(), retried while Tessera is not up yet (`make run` starts both)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            await run_in_threadpool(guard.start)
            return
        except DiscoveryError:
            if time.monotonic() >= deadline:
                raise
            logger.info("Tessera not reachable yet at %s; retrying", guard.issuer_url)
            await asyncio.sleep(_DISCOVERY_RETRY_SECONDS)


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    """422 naming each bad field and why, without echoing the input: FastAPI's default
    answer repeats it, and a lone surrogate in it cannot be encoded (a 500)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in errors]
    return JSONResponse({"detail": detail}, status_code=422)


_COLUMNS = (projects.c.id, projects.c.name, projects.c.created_at)


def _found(row: RowMapping | None) -> ProjectOut:
    # Another tenant's project is invisible under row-level security: 404, as unknown.
    if row is None:
        raise HTTPException(status_code=404, detail="project not found")
    return ProjectOut.model_validate(dict(row))


def read_project(engine: Engine, tenant_id: uuid.UUID, project_id: uuid.UUID) -> ProjectOut:
    """The project as `tenant_id` sees it; 404 if unknown or another tenant's."""
    query = select(*_COLUMNS).where(projects.c.id == project_id)
    with tenant_transaction(engine, tenant_id) as connection:
        return _found(connection.execute(query).mappings().first())


def _routes(app: FastAPI, guard: TesseraGuard, engine: Engine) -> None:
    reader = Annotated[TesseraCaller, Security(guard, scopes=["projects:read"])]
    writer = Annotated[TesseraCaller, Security(guard, scopes=["projects:write"])]

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/projects")
    def list_projects(
        caller: reader, limit: Annotated[int, Query(ge=1, le=200)] = 100
    ) -> ProjectList:
        query = select(*_COLUMNS).order_by(projects.c.created_at, projects.c.id).limit(limit)
        with tenant_transaction(engine, caller.tenant_id) as connection:
            rows = connection.execute(query).mappings().all()
        return ProjectList(items=[ProjectOut.model_validate(dict(row)) for row in rows])

    @app.post("/projects", status_code=201)
    def create_project(caller: writer, body: ProjectIn) -> ProjectOut:
        statement = (
            insert(projects).values(tenant_id=caller.tenant_id, name=body.name).returning(*_COLUMNS)
        )
        with tenant_transaction(engine, caller.tenant_id) as connection:
            return _found(connection.execute(statement).mappings().first())

    @app.get("/projects/{project_id}")
    def get_project(caller: reader, project_id: uuid.UUID) -> ProjectOut:
        return read_project(engine, caller.tenant_id, project_id)

    @app.patch("/projects/{project_id}")
    def rename_project(caller: writer, project_id: uuid.UUID, body: ProjectIn) -> ProjectOut:
        statement = (
            update(projects)
            .where(projects.c.id == project_id)
            .values(name=body.name)
            .returning(*_COLUMNS)
        )
        with tenant_transaction(engine, caller.tenant_id) as connection:
            return _found(connection.execute(statement).mappings().first())

    @app.delete("/projects/{project_id}", status_code=204)
    def delete_project(caller: writer, project_id: uuid.UUID) -> Response:
        statement = delete(projects).where(projects.c.id == project_id).returning(projects.c.id)
        with tenant_transaction(engine, caller.tenant_id) as connection:
            if connection.execute(statement).first() is None:
                raise HTTPException(status_code=404, detail="project not found")
        return Response(status_code=204)
