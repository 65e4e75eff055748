"""The bench's app: the production app plus two routes that exist only here.

`GET /bench/bare` is the baseline every guarded scenario is compared with: the same
app, middleware, event loop and worker, with no dependency at all. `GET /bench/guard`
is the production guard (`Me`) on a route that does nothing else, so the guard's cost
can be told apart from what `GET /me` itself reads. Production code has neither.
"""

from fastapi import FastAPI

from backend.api.deps import Me
from backend.main import create_app


def create_bench_app() -> FastAPI:
    """uvicorn's factory (`--factory bench.app:create_bench_app`); settings from TESSERA_*."""
    app = create_app()

    @app.get("/bench/bare", include_in_schema=False)
    async def bare() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/bench/guard", include_in_schema=False)
    async def guarded(principal: Me) -> dict[str, bool]:
        return {"ok": True}

    return app
