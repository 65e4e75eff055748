"""One place that turns domain errors into HTTP answers."""

import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from backend.api.forms import FormRequest
from backend.api.headers import API_CSP, NO_STORE, SECURITY_HEADERS
from backend.domain.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    ForbiddenError,
    InsufficientScopeError,
    InsufficientUserAuthenticationError,
    InvalidClientError,
    InvalidRequestError,
    InvalidTokenError,
    MfaRequiredError,
    NotFoundError,
    RateLimitedError,
    RoleCycleError,
)
from backend.domain.text import printable

logger = logging.getLogger(__name__)


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
        case MfaRequiredError():
            return error_response(400, exc.code, exc.description, NO_STORE, mfa_token=exc.mfa_token)
        case AuthenticationError():
            return error_response(400, exc.code, exc.description, NO_STORE)
        case InsufficientUserAuthenticationError():
            challenge = (
                bearer_challenge("insufficient_user_authentication", str(exc))
                + f', acr_values="{exc.acr}"'
            )
            return error_response(
                401,
                "insufficient_user_authentication",
                str(exc),
                {"WWW-Authenticate": challenge},
                acr_values=exc.acr,
            )
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
            [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error"}]
        )
        return await _invalid(request, invalid)
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


# Errors listed in a 422's description; a body can hold thousands of bad values.
_MAX_LISTED = 5


def describe_invalid(errors: Iterable[Mapping[str, Any]]) -> str:
    """What was wrong with a request, field by field, for `error_description`.

    Built from where and why only, never from the value sent: FastAPI's own answer
    echoes each input, which leaks a refused password into the answer, and fails to
    encode a lone surrogate at all (a 500 and a dropped connection). Names and reasons
    are escaped, since a loc can hold a key of the client's JSON.
    """
    listed = []
    for count, error in enumerate(errors):
        if count == _MAX_LISTED:
            listed.append("...")
            break
        where = ".".join(str(part) for part in error.get("loc", ()))
        reason = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        listed.append(printable(f"{where}: {reason}" if where else reason))
    return "; ".join(listed) or "the request is not valid"


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # registered for it only
        raise exc
    return error_response(422, "invalid_request", describe_invalid(exc.errors()))


class OAuthRoute(APIRoute):
    """A route of the OAuth 2.0 endpoints (/token, /revoke): a request the framework
    finds invalid (a missing form, a field too long, NUL in the username) is answered
    as RFC 6749 §5.2 and RFC 7009 §2.2.1 ask, 400 `invalid_request`, not 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_oauth(request: Request) -> Response:
            if not isinstance(request, FormRequest):
                # Their urlencoded forms parsed in one pass (see api/forms.py). A lean
                # route (api/lean.py) passes the FormRequest whose body it has read.
                request = FormRequest(request.scope, request.receive)
            try:
                return await handle(request)
            except RequestValidationError as exc:
                raise InvalidRequestError(describe_invalid(exc.errors())) from exc

        return handle_oauth


def document_validation_errors(app: FastAPI) -> None:
    """State the 422 answers in our error shape in the OpenAPI document, and none on the
    OAuth routes (they answer 400); FastAPI would state its own shape everywhere."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            oauth = {
                (context.path, method.lower())
                for context in iter_route_contexts(app.routes)
                if isinstance(context.original_route, OAuthRoute)
                for method in context.methods or ()
            }
            body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
            for path, operations in document["paths"].items():
                for method, operation in operations.items():
                    if "422" not in operation["responses"]:
                        continue
                    if (path, method) in oauth:
                        del operation["responses"]["422"]
                    else:
                        operation["responses"]["422"] = {
                            "description": "invalid_request: which fields are wrong, and why",
                            "content": body,
                        }
            schemas = document["components"]["schemas"]
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            app.openapi_schema = document
        return app.openapi_schema

    # FastAPI's documented way to customise the document is to replace this method.
    app.openapi = openapi  # type: ignore[method-assign]


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
    # Answered outside every middleware (Starlette's ServerErrorMiddleware), so this
    # answer states the headers EdgeMiddleware gives all others.
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": API_CSP}
    return error_response(500, "internal_error", "an unexpected error occurred", headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _invalid)
    document_validation_errors(app)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(Exception, _unexpected)
