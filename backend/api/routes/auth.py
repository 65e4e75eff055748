"""The OAuth 2.0 token and revocation endpoints (RFC 6749, RFC 7009)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Header, Request, Response
from sqlalchemy.orm import Session

from backend.api.deps import AppRuntime, DbSession, in_thread
from backend.api.headers import NO_STORE
from backend.api.lean import LeanOAuthRoute
from backend.api.schemas.auth import (
    MFA_GRANT,
    TOKEN_TYPE_HINTS,
    RevocationRequest,
    TokenRequest,
    TokenResponse,
)
from backend.api.schemas.errors import ErrorBody
from backend.api.schemas.text import HEADER_MAX_LENGTH, Text
from backend.domain.clients import GrantType
from backend.domain.code_flow import RequestedScopes
from backend.domain.errors import (
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    UnknownScopeError,
    UnsupportedGrantTypeError,
)
from backend.domain.scopes import parse_scopes
from backend.observability import metrics
from backend.runtime import Runtime
from backend.security.basic_auth import parse_basic
from backend.security.rate_limit import client_address
from backend.services import (
    audiences,
    auth,
    clients,
    code_flow,
    passkeys,
    service_accounts,
    sessions,
)

router = APIRouter(tags=["auth"], route_class=LeanOAuthRoute)


def limit_token_requests(request: Request, runtime: AppRuntime) -> None:
    """Count the request against its client address's per-minute budget (429 past it).

    Called first thing in the route, in the route's own worker thread: as a dependency
    of its own it cost every grant one more thread hop. A refused request still does no
    database I/O (opening the session does none) and hashes no password.
    """
    runtime.token_limiter.hit(
        client_address(
            request.client.host if request.client else None,
            ", ".join(request.headers.getlist("x-forwarded-for")),
            trust_forwarded_for=runtime.settings.trust_forwarded_for,
        )
    )


@router.post(
    "/token",
    response_model=TokenResponse,
    response_model_exclude_none=True,
    responses={
        400: {
            "model": ErrorBody,
            "description": "RFC 6749 §5.2 error; or `mfa_required` with an `mfa_token`",
        },
        401: {"model": ErrorBody, "description": "invalid_client (client_credentials)"},
        429: {"model": ErrorBody, "description": "rate_limited: retry after Retry-After"},
    },
    summary="Issue tokens: password, refresh_token, client_credentials, authorization_code",
)
async def issue_token(
    request: Request,
    runtime: AppRuntime,
    db: DbSession,
    form: Annotated[TokenRequest, Form()],
    # As long as a server takes a header line; the session keeps the first 300 characters.
    user_agent: Annotated[Text, Header(max_length=HEADER_MAX_LENGTH)] = "",
    authorization: Annotated[Text | None, Header(max_length=HEADER_MAX_LENGTH)] = None,
) -> TokenResponse:
    """`grant_type=password`: log in. Name the tenant with the `tenant` field, or write
    the username as `tenant-slug/email` (what the docs' Authorize dialog sends). A
    registered client may name itself with `client_id` (and `client_secret` if it is
    confidential); one whose `grant_types` leave out `password` is `unauthorized_client`.

    `grant_type=refresh_token`: exchange a refresh token for a new access token and a
    new refresh token; the one presented stops working.

    `grant_type=authorization_code`: exchange the code /authorize sent, with the
    `redirect_uri` it went to and the PKCE `code_verifier`; the client names itself with
    `client_id` (a confidential one with its secret, or HTTP Basic). Adds an `id_token`
    when `openid` was asked, and a refresh token with `offline_access`.

    `grant_type=client_credentials`: a service account authenticates with HTTP Basic
    (`client_id:client_secret`) and gets an access token; no refresh token.

    A user with a second factor gets 400 `mfa_required` with an `mfa_token` from the
    password grant; `grant_type=urn:tessera:params:oauth:grant-type:mfa` with that
    `mfa_token` and `otp` (a current code), `webauthn_assertion` (a passkey's, for the
    options of POST /mfa/webauthn/options) or `recovery_code` completes the login. The
    token lives five minutes and completes one login; tokens then carry `amr` and `acr`.
    """
    grant_type, refresh_token = form.grant_type, form.refresh_token

    def issue() -> auth.TokenGrant:
        limit_token_requests(request, runtime)
        requested = _requested_scopes(form.scope)
        if grant_type == "password":
            allowed: list[str] | None = None
            if form.client_id is not None:
                allowed = clients.client_for_grant(
                    db, form.client_id, form.client_secret, GrantType.PASSWORD
                ).resources
            audience = _audience(db, runtime, form, requested, allowed)
            with metrics.count_grant(grant_type):
                grant = auth.password_grant(
                    db,
                    runtime.passwords,
                    runtime.issuers,
                    _password_login(form, requested, user_agent, audience),
                )
        elif grant_type == "refresh_token":
            if not refresh_token:
                raise InvalidRequestError("refresh_token is required")
            with metrics.count_grant(grant_type):
                grant = auth.refresh_grant(
                    db, runtime.issuers, refresh_token, requested, form.resource
                )
        elif grant_type == MFA_GRANT:
            if not form.mfa_token or not (
                form.otp or form.recovery_code or form.webauthn_assertion
            ):
                raise InvalidRequestError(
                    "mfa_token and otp, webauthn_assertion or recovery_code are required"
                )
            assertion = form.webauthn_assertion
            grant = auth.mfa_grant(
                db,
                runtime.factor_sealer,
                runtime.effects,
                runtime.issuers,
                auth.MfaLogin(
                    mfa_token=form.mfa_token,
                    otp=form.otp,
                    recovery_code=form.recovery_code,
                    passkey=(
                        passkeys.Answer(runtime.relying_party, assertion) if assertion else None
                    ),
                ),
            )
        elif grant_type == "authorization_code":
            grant = _code_grant(runtime, db, form, authorization, user_agent)
        elif grant_type == "client_credentials":
            credentials = parse_basic(authorization)
            if credentials is None:
                raise InvalidClientError("authenticate the client with HTTP Basic")
            grant = service_accounts.client_credentials_grant(
                db,
                runtime.issuers,
                runtime.principal_cache,
                *credentials,
                requested,
                _audience(db, runtime, form, requested, None),
            )
        elif grant_type is None:
            raise InvalidRequestError("grant_type is required")
        else:
            raise UnsupportedGrantTypeError(f"grant_type {grant_type!r} is not supported")
        return grant

    # The rate limit, the grant and the commit in one worker thread; the form and the
    # response stay on the event loop.
    issued = await in_thread(db, issue)
    return TokenResponse(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        scope=issued.scope,
        refresh_token=issued.refresh_token,
        id_token=issued.id_token,
    )


@router.post(
    "/revoke",
    status_code=200,
    responses={
        400: {"model": ErrorBody, "description": "invalid_request: no token, or an unknown hint"}
    },
    summary="Revoke a refresh token and its whole session (RFC 7009)",
)
def revoke_token(
    db: DbSession,
    response: Response,
    form: Annotated[RevocationRequest, Form()],
) -> None:
    """Answers 200 whether or not the token was known, so it reveals nothing.

    Access tokens are short-lived JWTs and are not revoked one by one; end the session
    (or disable the user) to cut them off.
    """
    token, hint = form.token, form.token_type_hint
    if not token:
        raise InvalidRequestError("token is required")
    if hint is not None and hint not in TOKEN_TYPE_HINTS:
        raise InvalidRequestError(f"unknown token_type_hint {hint!r}")
    sessions.revoke_presented(db, token, reason="revoked_by_client", now=datetime.now(UTC))
    response.headers.update(NO_STORE)


def _audience(
    db: Session,
    runtime: Runtime,
    form: TokenRequest,
    requested: frozenset[str],
    allowed: list[str] | None,
) -> audiences.Audience:
    """The API a new token is for: the form's `resource`, or Tessera's own."""
    return audiences.resolve(
        db, runtime.settings.jwt_audience, form.resource, requested, allowed=allowed
    )


def _code_grant(
    runtime: Runtime,
    db: Session,
    form: TokenRequest,
    authorization: str | None,
    user_agent: str,
) -> auth.TokenGrant:
    """The client (in the form, or with HTTP Basic for a confidential one) and its code."""
    basic = parse_basic(authorization)
    client_id, secret = basic if basic is not None else (form.client_id, form.client_secret)
    if not client_id:
        raise InvalidRequestError("client_id is required")
    if not form.code:
        raise InvalidRequestError("code is required")
    client = clients.client_for_grant(db, client_id, secret, GrantType.AUTHORIZATION_CODE)
    exchange = code_flow.CodeExchange(
        code=form.code,
        client=client,
        redirect_uri=form.redirect_uri,
        code_verifier=form.code_verifier,
        user_agent=user_agent,
        resources=form.resource,
    )
    with metrics.count_grant(GrantType.AUTHORIZATION_CODE.value):
        return code_flow.code_grant(
            db, runtime.effects, runtime.issuers, exchange, datetime.now(UTC)
        )


def _requested_scopes(scope: str | None) -> frozenset[str]:
    """The API scopes asked for. OpenID Connect's (a refresh of a code-flow session
    repeats them, as Authlib does) are no API's: the session keeps those it had."""
    try:
        return parse_scopes(" ".join(RequestedScopes.parse(scope).api))
    except UnknownScopeError as exc:
        raise InvalidScopeError(str(exc)) from exc


def _password_login(
    form: TokenRequest,
    requested: frozenset[str],
    user_agent: str,
    audience: audiences.Audience | None = None,
) -> auth.PasswordLogin:
    username, password, tenant = form.username, form.password, form.tenant
    if not username or password is None:
        raise InvalidRequestError("username and password are required")
    if tenant is None:
        tenant, _, username = username.partition("/")
        if not username:
            raise InvalidRequestError(
                "name the tenant with the 'tenant' field or a 'tenant-slug/email' username"
            )
    return auth.PasswordLogin(
        tenant_slug=tenant,
        email=username,
        password=password,
        requested_scopes=requested,
        user_agent=user_agent,
        audience=audience,
    )
