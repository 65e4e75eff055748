"""Headers every answer carries, and `Cache-Control: no-store` on every answer with a secret.

`backend.api.middleware.EdgeMiddleware` sets them all as the response starts, through
`secure`:

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

from collections.abc import Iterable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Annotated

from pydantic import PlainSerializer

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FRAME_ANCESTORS_NONE = "frame-ancestors 'none'"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# For answers that are data, not pages: nothing in them may load or run.
API_CSP = f"default-src 'none'; {FRAME_ANCESTORS_NONE}"


RawHeaders = list[tuple[bytes, bytes]]

# The same headers as ASGI sends them (lowercase names), built once.
_SECURITY_RAW: RawHeaders = [
    (name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()
]
_NO_STORE_RAW: RawHeaders = [
    (name.lower().encode(), value.encode()) for name, value in NO_STORE.items()
]
_CSP = b"content-security-policy"
_API_CSP_RAW = (_CSP, API_CSP.encode())
# What `secure` sets replaces any value the app gave; a CSP of the app's own is kept.
_REPLACED = frozenset(name for name, _ in _SECURITY_RAW)
_REPLACED_WITH_CREDENTIAL = _REPLACED | {name for name, _ in _NO_STORE_RAW}


@dataclass(slots=True)
class Answer:
    """The answer being made: whether a `Credential` was serialised into it."""

    carries_credential: bool = False


# The answer being made; a worker thread's copy of the context shares the same object.
_answer: ContextVar[Answer | None] = ContextVar("answer", default=None)


def begin_answer() -> tuple[Answer, Token[Answer | None]]:
    """Start tracking a new answer in this context; reset the token when it is sent."""
    answer = Answer()
    return answer, _answer.set(answer)


def end_answer(token: Token[Answer | None]) -> None:
    _answer.reset(token)


def secure(headers: Iterable[tuple[bytes, bytes]], answer: Answer) -> RawHeaders:
    """The response's raw headers with the security headers (and no-store) set."""
    replaced = _REPLACED_WITH_CREDENTIAL if answer.carries_credential else _REPLACED
    kept = [header for header in headers if header[0] not in replaced]
    has_csp = any(name == _CSP for name, _ in kept)
    kept += _SECURITY_RAW
    if not has_csp:
        kept.append(_API_CSP_RAW)
    if answer.carries_credential:
        kept += _NO_STORE_RAW
    return kept


def _reveal(value: str) -> str:
    answer = _answer.get()
    if answer is not None:
        answer.carries_credential = True
    return value


# A secret shown in an answer (a key, a client secret, a token): that answer is no-store.
Credential = Annotated[str, PlainSerializer(_reveal, return_type=str)]
