"""One place that turns domain errors into HTTP answers."""

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from backend.domain.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    ForbiddenError,
    InsufficientScopeError,
    InvalidClientError,
    InvalidTokenError,
    NotFoundError,
    RateLimitedError,
    RoleCycleError,
)

logger = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def error_response(
    status: int,
    error: str,
    description: str,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description, **extra},
        status_code=status,
        headers=headers,
    )


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def bearer_challenge(error: str, description: str, scope: str | None = None) -> str:
    """An RFC 6750 §3 WWW-Authenticate value."""
    parts = [f'error="{error}"', f'error_description="{_quote(description)}"']
    if scope is not None:
        parts.append(f'scope="{_quote(scope)}"')
    return "Bearer " + ", ".join(parts)


async def _domain(_: Request, exc: Exception) -> JSONResponse:
    match exc:
        case InvalidClientError():
            headers = {**NO_STORE, "WWW-Authenticate": 'Basic realm="tessera"'}
            return error_response(401, exc.code, exc.description, headers)
        case AuthenticationError():
            return error_response(400, exc.code, exc.description, NO_STORE)
        case RateLimitedError():
            headers = {**NO_STORE, "Retry-After": str(exc.retry_after)}
            return error_response(429, "rate_limited", str(exc), headers)
        case InvalidTokenError():
            challenge = bearer_challenge("invalid_token", exc.description)
            return error_response(
                401, "invalid_token", exc.description, {"WWW-Authenticate": challenge}
            )
        case InsufficientScopeError():
            scope = " ".join(exc.required)
            challenge = bearer_challenge("insufficient_scope", str(exc), scope)
            return error_response(
                403, "insufficient_scope", str(exc), {"WWW-Authenticate": challenge}, scope=scope
            )
        case NotFoundError():
            return error_response(404, "not_found", str(exc))
        case RoleCycleError():
            return error_response(409, "conflict", str(exc), cycle=exc.cycle)
        case ConflictError():
            return error_response(409, "conflict", str(exc))
        case ForbiddenError():
            return error_response(403, "forbidden", str(exc), missing_scopes=exc.missing_scopes)
    return error_response(422, "invalid_request", str(exc))


# Errors the framework raises itself (no route, wrong method, unreadable body).
_HTTP_ERRORS = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


async def _http(request: Request, exc: Exception) -> Response:
    """Framework errors in our error shape; 405 lists every method of the path."""
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise exc
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI answers JSON that does not parse with 422 `json_invalid`, but a body
        # that is not UTF-8 with a bare 400 that no route documents: answer both alike.
        invalid = RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error", "input": {}}]
        )
        return await _invalid_request(request, invalid)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # RFC 9110 §15.5.6: Allow names the resource's methods. Starlette names only
        # those of the first route whose path matched, and each method is a route here.
        headers["Allow"] = ", ".join(_allowed_methods(request))
    code = _HTTP_ERRORS.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), headers)


def _allowed_methods(request: Request) -> list[str]:
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


class _AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: a lone surrogate, which JSON may
    carry but UTF-8 cannot, comes back as `\\ud800` instead of failing to encode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode()


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 for a body or parameter that fails validation, whose `detail`
    quotes the input: escaped, so any input that parsed can be quoted back."""
    if not isinstance(exc, RequestValidationError):  # registered for it only
        raise exc
    return _AsciiJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


async def _unstorable(_: Request, exc: Exception) -> JSONResponse:
    # A value the database cannot hold (a NUL character in text, a date-time out of
    # range): the client's input, not a fault of ours. The message would quote SQL.
    logger.info("value refused by the database: %s", type(getattr(exc, "orig", exc)).__name__)
    return error_response(422, "invalid_request", "a value in the request cannot be stored")


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable: %s", type(exc).__name__)
    return error_response(
        503, "unavailable", "the database is unreachable; retry shortly", {"Retry-After": "2"}
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the server log only; the client learns nothing internal.
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "an unexpected error occurred")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(Exception, _unexpected)
