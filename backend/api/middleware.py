"""The one middleware every HTTP request passes through: request id, headers, metrics.

Pure ASGI (no BaseHTTPMiddleware task or copy per request) and one layer, not three:
each layer was one more coroutine, closure and `send` wrapper per request. It

- takes the request id from X-Request-ID when sane, else makes one, keeps it (with the
  client address) in `request_context` for the audit log, and echoes it on the answer;
- sets the security headers and no-store on answers with a credential (`headers.secure`);
- counts and times the request by route template and status (`RequestMetrics`).

It is the outermost of the app's own middlewares, so a 404 or an error answer gets the
headers too; only Starlette's ServerErrorMiddleware (the 500 of an unexpected error)
answers outside it, and errors.py gives that answer the same headers.
"""

import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.headers import begin_answer, end_answer, secure
from backend.observability.http import RequestMetrics
from backend.request_context import RequestContext, current_request

_SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_REQUEST_ID = b"x-request-id"


class EdgeMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.metrics = RequestMetrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        client = scope.get("client")
        request_token = current_request.set(
            RequestContext(request_id=request_id.decode(), client_ip=client[0] if client else None)
        )
        answer, answer_token = begin_answer()
        # A response that never starts (an exception escaping) is the outer handler's 500.
        status = 500

        async def send_answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = secure(message.get("headers", ()), answer)
                headers.append((_REQUEST_ID, request_id))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_answer)
        finally:
            end_answer(answer_token)
            current_request.reset(request_token)
            self.metrics.observe(scope, status, time.perf_counter() - started)


def _request_id(scope: Scope) -> bytes:
    """The client's X-Request-ID when it is sane, else 32 random hex digits."""
    for name, value in scope["headers"]:
        if name == _REQUEST_ID:
            if _SANE_ID.fullmatch(value):
                return bytes(value)
            break
    # The shape of uuid4().hex, without building a UUID object.
    return os.urandom(16).hex().encode()
