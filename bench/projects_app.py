"""The projects example as the bench runs it: the app itself plus a bare endpoint.

`GET /bench/bare/projects/{id}` reads the project exactly as `GET /projects/{id}` does
(`read_project`: the same query in the same tenant-bound transaction, the same worker
threads), with the tenant taken from an `X-Tenant-Id` header instead of a verified
token: the difference between the two is the kit. `GET /bench/ready` answers 200 once
the kit follows Tessera's feed (before that it would introspect, which is not what is
measured). The example itself has neither route.
"""

import uuid
from typing import Annotated

from fastapi import FastAPI, Header, Response
from tessera_fastapi import TesseraGuard

from examples.projects.app import ProjectOut, create_app, read_project


def create_bench_projects_app() -> FastAPI:
    """uvicorn's factory; settings from PROJECTS_* as the example reads them."""
    app = create_app()
    engine = app.state.engine
    guard: TesseraGuard = app.state.guard

    @app.get("/bench/ready", include_in_schema=False)
    def ready() -> Response:
        live = guard.follower is not None and guard.follower.live
        return Response(status_code=200 if live else 503)

    @app.get("/bench/bare/projects/{project_id}", include_in_schema=False)
    def bare(
        project_id: uuid.UUID, tenant_id: Annotated[uuid.UUID, Header(alias="X-Tenant-Id")]
    ) -> ProjectOut:
        return read_project(engine, tenant_id, project_id)

    return app
