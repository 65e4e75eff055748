"""Request ids: accepted from X-Request-ID when sane, else made; echoed on the response."""

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.request_context import RequestContext, current_request

_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestContextMiddleware:
    """Pure ASGI (not BaseHTTPMiddleware), so it adds no task or copy per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = _header(scope, b"x-request-id")
        request_id = offered if offered and _SANE_ID.fullmatch(offered) else uuid.uuid4().hex
        client = scope.get("client")
        token = current_request.set(
            RequestContext(request_id=request_id, client_ip=client[0] if client else None)
        )

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request.reset(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            # Every byte is a latin-1 character: this cannot fail.
            return str(value.decode("latin-1"))
    return None
