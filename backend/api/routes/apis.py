"""Product APIs and their scopes (platform scopes apis:read, apis:write).

Platform-level reference data: only principals of the platform tenant hold these scopes.
"""

import uuid

from fastapi import APIRouter, Response

from backend.api.deps import ApisRead, ApisWrite, AppRuntime, DbSession
from backend.api.schemas.apis import ApiCreate, ApiOut, ApiScopeOut, ApiUpdate
from backend.api.schemas.errors import CONFLICT, GUARDED_RESPONSES, NOT_FOUND
from backend.services import apis
from backend.services.principals import Principal
from backend.services.tenants import enter_as_operator

router = APIRouter(prefix="/apis", tags=["apis (platform)"])


def _out(view: apis.ApiView) -> ApiOut:
    return ApiOut(
        id=view.id,
        identifier=view.identifier,
        name=view.name,
        description=view.description,
        builtin=view.builtin,
        scopes=[ApiScopeOut(scope=s, description=d) for s, d in sorted(view.scopes.items())],
    )


def _operator(principal: Principal) -> apis.Operator:
    return apis.Operator(tenant_id=principal.tenant_id, actor=principal.actor)


@router.get("", response_model=list[ApiOut], responses=GUARDED_RESPONSES)
def list_apis(principal: ApisRead, db: DbSession, runtime: AppRuntime) -> list[ApiOut]:
    """Every API, Tessera's own (built in) first, with its scopes."""
    enter_as_operator(db, principal)
    return [_out(v) for v in apis.list_apis(db, runtime.settings.jwt_audience)]


@router.post(
    "", status_code=201, response_model=ApiOut, responses={**GUARDED_RESPONSES, **CONFLICT}
)
def create_api(body: ApiCreate, principal: ApisWrite, db: DbSession, runtime: AppRuntime) -> ApiOut:
    """Declare an API: its identifier (the audience of its tokens, an absolute URI,
    unique and immutable) and its scopes (`resource:action`, unique across all APIs).
    A taken identifier or scope name is 409; a malformed one 422 with the rule."""
    enter_as_operator(db, principal)
    return _out(
        apis.create_api(
            db,
            _operator(principal),
            runtime.settings.jwt_audience,
            identifier=body.identifier,
            name=body.name,
            description=body.description,
            scopes=body.scopes,
        )
    )


@router.get("/{id}", response_model=ApiOut, responses={**GUARDED_RESPONSES, **NOT_FOUND})
def get_api(id: uuid.UUID, principal: ApisRead, db: DbSession, runtime: AppRuntime) -> ApiOut:
    """One API with its scopes."""
    enter_as_operator(db, principal)
    return _out(apis.get_api(db, runtime.settings.jwt_audience, id))


@router.patch(
    "/{id}", response_model=ApiOut, responses={**GUARDED_RESPONSES, **NOT_FOUND, **CONFLICT}
)
def update_api(
    id: uuid.UUID, body: ApiUpdate, principal: ApisWrite, db: DbSession, runtime: AppRuntime
) -> ApiOut:
    """Edit an API's name, description or scopes (`scopes` replaces the set). Removing a
    scope that roles still carry is 409 naming the roles; the built-in API is 409."""
    enter_as_operator(db, principal)
    return _out(
        apis.update_api(
            db,
            _operator(principal),
            runtime.settings.jwt_audience,
            id,
            name=body.name,
            description=body.description,
            scopes=body.scopes,
        )
    )


@router.delete("/{id}", status_code=204, responses={**GUARDED_RESPONSES, **NOT_FOUND, **CONFLICT})
def delete_api(id: uuid.UUID, principal: ApisWrite, db: DbSession, runtime: AppRuntime) -> Response:
    """Remove an API and its scopes: 409 while roles carry any of them (naming the
    roles), and for the built-in API."""
    enter_as_operator(db, principal)
    apis.delete_api(db, _operator(principal), runtime.settings.jwt_audience, id)
    return Response(status_code=204)
