"""Request count and latency per route template and status, as pure ASGI middleware."""

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS

# Paths that matched no route share one label: a scanner trying a million paths must
# not make a million series.
UNMATCHED = "unmatched"
# Clients may send any method token; the rest are counted as one.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    """Times each HTTP request from its start to the end of its response body.

    Pure ASGI (no BaseHTTPMiddleware task per request); the route template is read from
    the scope after routing, where FastAPI leaves the matched route.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            # An exception escaping here becomes the outer error handler's 500.
            route = scope.get("route")
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            labels = (method, getattr(route, "path", UNMATCHED), str(status))
            HTTP_REQUESTS.labels(*labels).inc()
            HTTP_LATENCY.labels(*labels).observe(time.perf_counter() - started)
