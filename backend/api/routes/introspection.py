"""Token introspection (RFC 7662), for resource servers, authenticated as a service account."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Response

from backend.api.deps import AppRuntime, DbSession
from backend.api.headers import NO_STORE
from backend.api.lean import LeanOAuthRoute
from backend.api.schemas.auth import (
    TOKEN_TYPE_HINTS,
    IntrospectionRequest,
    IntrospectionResponse,
)
from backend.api.schemas.errors import ErrorBody
from backend.api.schemas.text import HEADER_MAX_LENGTH, Text
from backend.domain.errors import InvalidClientError, InvalidRequestError
from backend.security.basic_auth import parse_basic
from backend.services import introspection

router = APIRouter(tags=["auth"], route_class=LeanOAuthRoute)


@router.post(
    "/introspect",
    response_model=IntrospectionResponse,
    response_model_exclude_none=True,
    responses={
        400: {"model": ErrorBody, "description": "invalid_request: no token, or an unknown hint"},
        401: {"model": ErrorBody, "description": "invalid_client: authenticate with HTTP Basic"},
        403: {"model": ErrorBody, "description": "forbidden: the account lacks tokens:introspect"},
    },
    summary="Introspect an access or refresh token (RFC 7662)",
)
def introspect(
    db: DbSession,
    runtime: AppRuntime,
    response: Response,
    form: Annotated[IntrospectionRequest, Form()],
    authorization: Annotated[Text | None, Header(max_length=HEADER_MAX_LENGTH)] = None,
) -> dict[str, Any]:
    """Authenticate as a service account with HTTP Basic (`client_id:client_secret`)
    whose roles give `tokens:introspect`. `{"active": false}` for any token not valid now
    (expired, forged, its user disabled, its tenant suspended, cut off, its session
    ended), or of another tenant than the account's, unless the account is of the
    platform tenant; else `active: true` with scope, sub, tid, aud, iss, exp, iat, jti,
    token_type (`bearer` or `refresh_token`) and kind.
    """
    response.headers.update(NO_STORE)
    credentials = parse_basic(authorization)
    if credentials is None:
        raise InvalidClientError("authenticate the service account with HTTP Basic")
    token, hint = form.token, form.token_type_hint
    if hint is not None and hint not in TOKEN_TYPE_HINTS:
        raise InvalidRequestError(f"unknown token_type_hint {hint!r}")
    introspector = introspection.Introspector(
        codec=runtime.tokens,
        cache=runtime.principal_cache,
        platform_tenant_slug=runtime.settings.platform_tenant_slug,
    )
    caller = introspection.authenticate(db, introspector, *credentials)
    if not token:
        raise InvalidRequestError("token is required")
    return introspection.introspect(db, introspector, caller, token)
