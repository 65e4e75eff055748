"""A lean request path for the OAuth endpoints (/token, /revoke, /introspect).

A refresh grant spent about a fifth of its CPU in FastAPI's per-request dependency
solving (the form model's fields, two validated headers, the session and runtime
dependencies, each a solve with its own cache keys and exit stack) and, for the sync
routes, two more thread hops (the endpoint, then the response model's validation, then
the session's end). `LeanOAuthRoute` keeps the route exactly as FastAPI declares and
documents it, and answers a well-formed request by calling the same endpoint itself:

- the form's fields are validated by the form model itself, each header by its own
  FastAPI field, with the values FastAPI would take (each field once, none empty);
- the runtime comes from the app's state, the unit of work from `get_db` itself;
- a sync endpoint runs with its session's end in one worker thread (`in_thread`);
- the return value is serialised by FastAPI's own `serialize_response`.

Anything else (a field given twice or empty, a field the model does not know, an
invalid value, another content type) goes to FastAPI's handler, so every refusal is the
one FastAPI and `OAuthRoute` make, byte for byte. The plan is made once, when the route
is built; an endpoint with a parameter it cannot serve fails at start-up.
"""

import functools
from collections.abc import Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from inspect import iscoroutinefunction
from typing import Any, get_origin

from fastapi._compat import ModelField
from fastapi.dependencies.models import Dependant
from fastapi.routing import serialize_response
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.api.deps import get_db, get_runtime, in_thread, runtime_of
from backend.api.errors import OAuthRoute
from backend.api.forms import URLENCODED, FormRequest

_unit_of_work = asynccontextmanager(get_db)
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


@dataclass(frozen=True, slots=True)
class _Header:
    argument: str
    field: ModelField


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to call one endpoint without FastAPI's solver: which argument is what."""

    endpoint: Callable[..., Any]
    is_coroutine: bool
    form_argument: str
    form_model: type[BaseModel]
    # Form field name -> whether it is a list (repeatable) field.
    form_fields: dict[str, bool]
    headers: tuple[_Header, ...]
    request_argument: str | None
    response_argument: str | None
    runtime_argument: str | None
    db_argument: str | None

    @classmethod
    def of(cls, dependant: Dependant) -> "_Plan":
        if dependant.call is None:
            raise TypeError("a lean route needs an endpoint")
        unsupported = (
            dependant.path_params,
            dependant.query_params,
            dependant.cookie_params,
            dependant.background_tasks_param_name,
            dependant.security_scopes_param_name,
        )
        if any(unsupported) or len(dependant.body_params) != 1:
            raise TypeError(f"{dependant.call.__name__}: not a form endpoint a lean route serves")
        runtime_argument = db_argument = None
        for sub in dependant.dependencies:
            if sub.call is get_runtime:
                runtime_argument = sub.name
            elif sub.call is get_db:
                db_argument = sub.name
            else:
                raise TypeError(f"{dependant.call.__name__}: dependency {sub.call} unsupported")
        body = dependant.body_params[0]
        model = body.field_info.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"{dependant.call.__name__}: the form must be a model")
        return cls(
            endpoint=dependant.call,
            is_coroutine=iscoroutinefunction(dependant.call),
            form_argument=body.name,
            form_model=model,
            form_fields={
                info.alias or name: get_origin(info.annotation) is list
                for name, info in model.model_fields.items()
            },
            headers=tuple(_Header(field.name, field) for field in dependant.header_params),
            request_argument=dependant.request_param_name,
            response_argument=dependant.response_param_name,
            runtime_argument=runtime_argument,
            db_argument=db_argument,
        )

    def form(self, form: FormData) -> BaseModel | None:
        """The form model, when FastAPI would make the same one of `form`; else None."""
        values: dict[str, Any] = {}
        for name, value in form.multi_items():
            repeatable = self.form_fields.get(name)
            if repeatable is None or not isinstance(value, str) or not value:
                return None
            if repeatable:
                values.setdefault(name, []).append(value)
            elif name in values:
                return None
            else:
                values[name] = value
        try:
            return self.form_model.model_validate(values)
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


class LeanOAuthRoute(OAuthRoute):
    """An OAuthRoute whose well-formed requests skip FastAPI's dependency solving."""

    def get_route_handler(self) -> Handler:
        full = super().get_route_handler()
        plan = _Plan.of(self.dependant)

        async def handle_lean(request: Request) -> Response:
            form_request = FormRequest(request.scope, request.receive)
            if form_request.headers.get("content-type", "").encode() != URLENCODED:
                return await full(form_request)
            form = plan.form(await form_request.form())
            headers = plan.header_values(form_request) if form is not None else None
            if form is None or headers is None:
                # The body is kept on the request: FastAPI's handler parses it again.
                return await full(form_request)
            return await self._answer(plan, form_request, {plan.form_argument: form, **headers})

        return handle_lean

    async def _answer(self, plan: _Plan, request: Request, arguments: dict[str, Any]) -> Response:
        if plan.request_argument is not None:
            arguments[plan.request_argument] = request
        if plan.runtime_argument is not None:
            arguments[plan.runtime_argument] = runtime_of(request)
        # What FastAPI hands an endpoint that asks for the response: headers to add.
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]
        if plan.response_argument is not None:
            arguments[plan.response_argument] = sub_response
        async with _unit_of_work(request) as db:
            if plan.db_argument is not None:
                arguments[plan.db_argument] = db
            call = functools.partial(plan.endpoint, **arguments)
            if plan.is_coroutine:
                raw = await call()
            else:
                # The endpoint and its session's end in one worker thread.
                raw = await in_thread(db, call)
        content = await serialize_response(
            field=self.response_field,
            response_content=raw,
            include=self.response_model_include,
            exclude=self.response_model_exclude,
            by_alias=self.response_model_by_alias,
            exclude_unset=self.response_model_exclude_unset,
            exclude_defaults=self.response_model_exclude_defaults,
            exclude_none=self.response_model_exclude_none,
            dump_json=self.response_field is not None,
        )
        status = sub_response.status_code or self.status_code or 200
        response: Response = (
            Response(content=content, media_type="application/json", status_code=status)
            if self.response_field is not None
            else JSONResponse(content, status_code=status)
        )
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""
        response.headers.raw.extend(sub_response.headers.raw)
        return response
