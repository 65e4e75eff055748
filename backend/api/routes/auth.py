"""The OAuth 2.0 token endpoint (RFC 6749)."""

from typing import Annotated

from fastapi import APIRouter, Form, Response

from backend.api.deps import AppRuntime, DbSession
from backend.api.errors import NO_STORE
from backend.api.schemas.auth import TokenResponse
from backend.api.schemas.errors import ErrorBody
from backend.domain.errors import (
    InvalidRequestError,
    InvalidScopeError,
    UnknownScopeError,
    UnsupportedGrantTypeError,
)
from backend.domain.scopes import parse_scopes
from backend.services import auth

router = APIRouter(tags=["auth"])

OptionalField = Annotated[str | None, Form()]


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={400: {"model": ErrorBody, "description": "RFC 6749 §5.2 error"}},
    summary="Issue an access token (password grant)",
)
def issue_token(
    runtime: AppRuntime,
    db: DbSession,
    response: Response,
    grant_type: OptionalField = None,
    username: OptionalField = None,
    password: OptionalField = None,
    scope: OptionalField = None,
    tenant: OptionalField = None,
) -> TokenResponse:
    """Log in with `grant_type=password`.

    Name the tenant with the `tenant` field, or write the username as
    `tenant-slug/email` (what the docs' Authorize dialog sends).
    """
    if grant_type is None:
        raise InvalidRequestError("grant_type is required")
    if grant_type != "password":
        raise UnsupportedGrantTypeError(f"grant_type {grant_type!r} is not supported")
    if not username or password is None:
        raise InvalidRequestError("username and password are required")
    if tenant is None:
        tenant, _, username = username.partition("/")
        if not username:
            raise InvalidRequestError(
                "name the tenant with the 'tenant' field or a 'tenant-slug/email' username"
            )
    try:
        requested = parse_scopes(scope)
    except UnknownScopeError as exc:
        raise InvalidScopeError(str(exc)) from exc

    grant = auth.password_grant(
        db,
        runtime.passwords,
        runtime.tokens,
        auth.PasswordLogin(
            tenant_slug=tenant, email=username, password=password, requested_scopes=requested
        ),
        platform_tenant_slug=runtime.settings.platform_tenant_slug,
    )
    response.headers.update(NO_STORE)
    return TokenResponse(
        access_token=grant.access_token, expires_in=grant.expires_in, scope=grant.scope
    )
