"""A lean request path for the hot routes: /token, /revoke, /introspect and GET /me.

A refresh grant spent about a fifth of its CPU in FastAPI's per-request dependency
solving (the form model's fields, two validated headers, the session and runtime
dependencies, each a solve with its own cache keys and exit stack) and, for the sync
routes, two more thread hops (the endpoint, then the response model's validation, then
the session's end); GET /me a third of its CPU solving the guard's five dependencies.
`LeanOAuthRoute` and `LeanRoute` keep a route exactly as FastAPI declares and documents
it, and answer a well-formed request by calling the same endpoint and dependencies
themselves:

- the form's fields are validated by the form model itself, each header by its own
  FastAPI field, with the values FastAPI would take (each field once, none empty);
- the runtime comes from the app's state, the unit of work from `get_db` itself (one
  per request, shared by whatever asks for it, as FastAPI's cache shares it); the
  security schemes are called as FastAPI calls them, and a dependency on them (the
  guard) with the `SecurityScopes` FastAPI would give it;
- a sync endpoint runs with its session's end in one worker thread (`in_thread`);
- the return value is serialised by FastAPI's own `serialize_response`.

Anything else (a field given twice or empty, a field the model does not know, an
invalid value, another content type) goes to FastAPI's handler, so every refusal is the
one FastAPI and `OAuthRoute` make, byte for byte. The plan is made once, when the route
is built; an endpoint with a parameter it cannot serve fails at start-up.
"""

import functools
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from inspect import iscoroutinefunction
from typing import Any, get_origin

from fastapi._body_limit import get_body_limit_error
from fastapi._compat import ModelField
from fastapi.dependencies.models import Dependant, _get_oauth_scopes
from fastapi.routing import _FASTAPI_SCOPE_KEY, APIRoute, _resolve_form_limits, serialize_response
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer, SecurityScopes
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.api.deps import get_db, get_runtime, in_thread, runtime_of
from backend.api.errors import OAuthRoute
from backend.api.forms import URLENCODED, FormRequest

_unit_of_work = asynccontextmanager(get_db)
Handler = Callable[[Request], Coroutine[Any, Any, Response]]
# Header schemes called as FastAPI calls them: `await scheme(request)`.
_SCHEMES = (OAuth2PasswordBearer, APIKeyHeader)


@dataclass(frozen=True, slots=True)
class _Header:
    argument: str
    field: ModelField


@dataclass(slots=True)
class _Call:
    """One request's state: the session (opened at most once) and solved dependencies."""

    request: Request
    stack: AsyncExitStack
    db: Session | None = None

    async def session(self) -> Session:
        if self.db is None:
            self.db = await self.stack.enter_async_context(_unit_of_work(self.request))
        return self.db


@dataclass(frozen=True, slots=True)
class _Dependency:
    """A dependency the lean path solves itself: the runtime, the session, a header
    scheme, or an async function of those (the guard), with its SecurityScopes."""

    argument: str
    call: Callable[..., Any]
    scopes: SecurityScopes | None
    scopes_argument: str | None
    request_argument: str | None
    subs: tuple["_Dependency", ...]

    @classmethod
    def of(cls, dependant: Dependant, where: str) -> "_Dependency":
        call, name = dependant.call, dependant.name
        if call is None or name is None:
            raise TypeError(f"{where}: a dependency without a callable")
        plain = not any(
            (
                dependant.path_params,
                dependant.query_params,
                dependant.header_params,
                dependant.cookie_params,
                dependant.body_params,
                dependant.response_param_name,
                dependant.background_tasks_param_name,
            )
        )
        known = call in (get_runtime, get_db) or isinstance(call, _SCHEMES)
        if not plain or not (known or iscoroutinefunction(call)):
            raise TypeError(f"{where}: dependency {call!r} is not one a lean route solves")
        return cls(
            argument=name,
            call=call,
            scopes=SecurityScopes(scopes=_get_oauth_scopes(dependant=dependant))
            if dependant.security_scopes_param_name
            else None,
            scopes_argument=dependant.security_scopes_param_name,
            request_argument=dependant.request_param_name,
            subs=tuple(cls.of(sub, where) for sub in dependant.dependencies),
        )

    async def solve(self, call: _Call) -> Any:
        if self.call is get_db:
            return await call.session()
        if self.call is get_runtime:
            return runtime_of(call.request)
        if isinstance(self.call, _SCHEMES):
            return await self.call(call.request)
        arguments = {sub.argument: await sub.solve(call) for sub in self.subs}
        if self.request_argument is not None:
            arguments[self.request_argument] = call.request
        if self.scopes_argument is not None:
            arguments[self.scopes_argument] = self.scopes
        return await self.call(**arguments)


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to call one endpoint without FastAPI's solver: which argument is what."""

    endpoint: Callable[..., Any]
    is_coroutine: bool
    # The form model's argument, the model, and its fields (name -> a list field?).
    form: tuple[str, type[BaseModel], dict[str, bool]] | None
    headers: tuple[_Header, ...]
    request_argument: str | None
    response_argument: str | None
    dependencies: tuple[_Dependency, ...]

    @classmethod
    def of(cls, dependant: Dependant) -> "_Plan":
        call = dependant.call
        if call is None:
            raise TypeError("a lean route needs an endpoint")
        where = getattr(call, "__name__", repr(call))
        unsupported = (
            dependant.path_params,
            dependant.query_params,
            dependant.cookie_params,
            dependant.background_tasks_param_name,
            dependant.security_scopes_param_name,
            len(dependant.body_params) > 1,
        )
        if any(unsupported):
            raise TypeError(f"{where}: not an endpoint a lean route serves")
        return cls(
            endpoint=call,
            is_coroutine=iscoroutinefunction(call),
            form=_form_of(dependant.body_params[0], where) if dependant.body_params else None,
            headers=tuple(_Header(field.name, field) for field in dependant.header_params),
            request_argument=dependant.request_param_name,
            response_argument=dependant.response_param_name,
            dependencies=tuple(_Dependency.of(sub, where) for sub in dependant.dependencies),
        )

    def form_model(self, form: FormData) -> BaseModel | None:
        """The form model, when FastAPI would make the same one of `form`; else None."""
        if self.form is None:
            return None
        _, model, fields = self.form
        values: dict[str, Any] = {}
        for name, value in form.multi_items():
            repeatable = fields.get(name)
            if repeatable is None or not isinstance(value, str) or not value:
                return None
            if repeatable:
                values.setdefault(name, []).append(value)
            elif name in values:
                return None
            else:
                values[name] = value
        try:
            return model.model_validate(values)
        except ValidationError:
            return None

    def header_values(self, request: Request) -> dict[str, Any] | None:
        found: dict[str, Any] = {}
        for header in self.headers:
            raw = request.headers.get(header.field.alias)
            if raw is None:
                found[header.argument] = header.field.field_info.get_default(
                    call_default_factory=True
                )
                continue
            value, errors = header.field.validate(raw, {}, loc=("header", header.field.alias))
            if errors:
                return None
            found[header.argument] = value
        return found


def _form_of(body: ModelField, where: str) -> tuple[str, type[BaseModel], dict[str, bool]]:
    model = body.field_info.annotation
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{where}: the form must be a model")
    fields = {
        info.alias or name: get_origin(info.annotation) is list
        for name, info in model.model_fields.items()
    }
    return body.name, model, fields


def _lean(route: APIRoute, full: Handler, *, forms: bool) -> Handler:
    """The route's handler: the lean path when it serves the request, else `full`."""
    plan = _Plan.of(route.dependant)
    if (plan.form is not None) != forms:
        raise TypeError(f"{route.path}: a form route is a LeanOAuthRoute, and only a form route")

    async def handle_lean(request: Request) -> Response:
        arguments: dict[str, Any] = {}
        if plan.form is not None:
            request = FormRequest(request.scope, request.receive)
            if request.headers.get("content-type", "").encode() != URLENCODED:
                return await full(request)
            form = plan.form_model(await _read_form(route, request))
            if form is None:
                # The body is kept on the request: FastAPI's handler parses it again.
                return await full(request)
            arguments[plan.form[0]] = form
        headers = plan.header_values(request)
        if headers is None:
            return await full(request)
        return await _answer(route, plan, request, {**arguments, **headers})

    return handle_lean


async def _read_form(route: APIRoute, request: Request) -> FormData:
    """The form as FastAPI reads it: with the route's form limits, a body it cannot read
    answered as FastAPI answers it (the limit's error, or 400)."""
    limits = _resolve_form_limits(request.scope.get(_FASTAPI_SCOPE_KEY, {}), route.form_limits)
    try:
        return await request.form(**limits)
    except HTTPException:
        raise
    except Exception as exc:
        if MAX_BODY_SIZE_SCOPE_KEY in request.scope and (error := get_body_limit_error(exc)):
            raise error from exc
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc


async def _answer(
    route: APIRoute, plan: _Plan, request: Request, arguments: dict[str, Any]
) -> Response:
    if plan.request_argument is not None:
        arguments[plan.request_argument] = request
    # What FastAPI hands an endpoint that asks for the response: headers to add.
    sub_response = Response()
    del sub_response.headers["content-length"]
    sub_response.status_code = None  # type: ignore[assignment]
    if plan.response_argument is not None:
        arguments[plan.response_argument] = sub_response
    async with AsyncExitStack() as stack:
        call = _Call(request, stack)
        for dependency in plan.dependencies:
            arguments[dependency.argument] = await dependency.solve(call)
        endpoint = functools.partial(plan.endpoint, **arguments)
        if plan.is_coroutine:
            raw = await endpoint()
        elif call.db is not None:
            # The endpoint and its session's end in one worker thread.
            raw = await in_thread(call.db, endpoint)
        else:
            raise TypeError(f"{route.path}: a sync endpoint without a session")
    if isinstance(raw, Response):
        return raw
    content = await serialize_response(
        field=route.response_field,
        response_content=raw,
        include=route.response_model_include,
        exclude=route.response_model_exclude,
        by_alias=route.response_model_by_alias,
        exclude_unset=route.response_model_exclude_unset,
        exclude_defaults=route.response_model_exclude_defaults,
        exclude_none=route.response_model_exclude_none,
        dump_json=route.response_field is not None,
    )
    status = sub_response.status_code or route.status_code or 200
    response: Response = (
        Response(content=content, media_type="application/json", status_code=status)
        if route.response_field is not None
        else JSONResponse(content, status_code=status)
    )
    if not is_body_allowed_for_status_code(response.status_code):
        response.body = b""
    response.headers.raw.extend(sub_response.headers.raw)
    return response


class LeanOAuthRoute(OAuthRoute):
    """An OAuthRoute whose well-formed forms skip FastAPI's dependency solving."""

    def get_route_handler(self) -> Handler:
        return _lean(self, super().get_route_handler(), forms=True)


class LeanRoute(APIRoute):
    """A route without a body (GET /me) that skips FastAPI's dependency solving."""

    def get_route_handler(self) -> Handler:
        return _lean(self, super().get_route_handler(), forms=False)
