"""CORS for the endpoints a browser application calls itself: /token, /revoke,
/userinfo and the well-known documents (Fetch standard, CORS protocol).

Only origins some client registered in `allowed_origins` get CORS headers; every other
origin gets none, so its pages cannot read the answers. No credentials mode: these
endpoints take tokens in the body or the Authorization header, never cookies. A pure ASGI
middleware: requests without an `Origin`, and every other path, pass untouched.

The allowed origins come from the principal cache, which every change of a client
forgets (services.clients): a request with an Origin costs a read of PostgreSQL (and a
worker thread) only when the cache does not hold them.
"""

import anyio
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.runtime import Runtime
from backend.services import clients

CORS_PATHS = frozenset({"/token", "/revoke", "/userinfo"})
ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type"
EXPOSED_HEADERS = "WWW-Authenticate, Retry-After"
# How long a browser may keep a preflight's answer.
PREFLIGHT_MAX_AGE = "600"


def covered(path: str) -> bool:
    return path in CORS_PATHS or path.startswith("/.well-known/")


class ClientCorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not covered(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        runtime: Runtime = scope["app"].state.runtime
        origins = runtime.principal_cache.origins()
        if origins is None:
            origins = await anyio.to_thread.run_sync(_load_origins, runtime)
        allowed = origin in origins
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await _preflight(origin if allowed else None)(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer = MutableHeaders(scope=message)
                answer.add_vary_header("Origin")
                if allowed:
                    answer["Access-Control-Allow-Origin"] = origin
                    answer["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _load_origins(runtime: Runtime) -> frozenset[str]:
    """Read the clients' origins and keep them, unless a client changed meanwhile."""
    cache = runtime.principal_cache
    since = cache.generation
    with runtime.database.sessions() as db:
        origins = clients.allowed_origins(db)
    cache.keep_origins(origins, since=since)
    return origins


def _preflight(origin: str | None) -> Response:
    """The answer to a preflight: the permission for a listed origin, nothing for others."""
    if origin is None:
        return Response(status_code=403, headers={"Vary": "Origin"})
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            "Vary": "Origin",
        },
    )
