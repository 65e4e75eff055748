"""Headers every answer carries, and `Cache-Control: no-store` on every answer with a secret.

One pure ASGI middleware (no task or copy per request) sets them all:

- on every answer, `X-Content-Type-Options: nosniff` (a browser never runs a JSON body
  as a script or page), `Referrer-Policy: no-referrer`, and framing refused
  (`X-Frame-Options: DENY`, CSP `frame-ancestors 'none'`). An answer with a CSP of its
  own (the docs pages, docs.py) keeps it; any other gets `default-src 'none'`;
- on an answer that carries a credential, `Cache-Control: no-store` and `Pragma:
  no-cache` (RFC 6749 §5.1, RFC 9111 §5.2.2.5). Which answers do is not listed route by
  route: a response schema declares its secret fields as `Credential`, and serialising
  one marks the answer being made. A route that starts returning a secret needs nothing
  else; one whose optional secret is absent (`POST /users` without an invitation) stays
  cacheable as any answer.
"""

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated

from pydantic import PlainSerializer
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FRAME_ANCESTORS_NONE = "frame-ancestors 'none'"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# For answers that are data, not pages: nothing in them may load or run.
API_CSP = f"default-src 'none'; {FRAME_ANCESTORS_NONE}"


@dataclass(slots=True)
class _Answer:
    carries_credential: bool = False


# The answer being made; a worker thread's copy of the context shares the same object.
_answer: ContextVar[_Answer | None] = ContextVar("answer", default=None)


def _reveal(value: str) -> str:
    answer = _answer.get()
    if answer is not None:
        answer.carries_credential = True
    return value


# A secret shown in an answer (a key, a client secret, a token): that answer is no-store.
Credential = Annotated[str, PlainSerializer(_reveal, return_type=str)]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer = _Answer()
        token = _answer.set(answer)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.update(SECURITY_HEADERS)
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = API_CSP
                if answer.carries_credential:
                    headers.update(NO_STORE)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            _answer.reset(token)
