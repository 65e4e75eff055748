"""The hosted sign-in: GET/POST /authorize (RFC 6749 §4.1, PKCE, OpenID Connect) and
RP-initiated logout at /logout.

Server-rendered pages that work without JavaScript (api/hosted.py: CSRF on every form,
a CSP that forbids framing and every asset from elsewhere). An untrusted client or
redirect URI gets an error page, never a redirect; every other refusal goes back to the
registered redirect URI with the client's `state` (RFC 6749 §4.1.2.1).

Signing in is a sequence of steps: the password (`auth.verify_login`, the same checks,
lockout and timing as the password grant), then for a user with a second factor the
factor (`/authorize/second-factor`, the same check as the mfa grant), then `_signed_in`,
which starts the browser session and sends the code.
"""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from backend.api.deps import AppRuntime, DbSession
from backend.api.hosted import CsrfError, check_csrf, page
from backend.api.routes.auth import limit_token_requests
from backend.api.schemas.sign_in import (
    AuthorizeQuery,
    LogoutForm,
    LogoutQuery,
    SecondFactorForm,
    SignInForm,
)
from backend.domain import code_flow as rules
from backend.domain.code_flow import AuthorizeError, Prompt, RedirectionError
from backend.domain.errors import InvalidGrantError, RateLimitedError
from backend.domain.standing import may_act
from backend.runtime import Runtime
from backend.security.id_tokens import IdTokenHintError
from backend.services import (
    auth,
    browser_sessions,
    clients,
    code_flow,
    factors,
    mfa_challenges,
    sessions,
    subjects,
    tenants,
)
from backend.services.code_flow import AuthorizationRequest, AuthorizeParams

router = APIRouter(include_in_schema=False)
SIGN_IN = "sign_in.html"
SECOND_FACTOR = "sign_in_factor.html"
ERROR = "sign_in_error.html"
SIGNED_OUT = "signed_out.html"
# The request's parameters the sign-in form carries back in hidden fields.
_CARRIED = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "prompt",
    "resource",
)


@router.get("/authorize", response_class=HTMLResponse)
def authorize(
    request: Request,
    db: DbSession,
    runtime: AppRuntime,
    query: Annotated[AuthorizeQuery, Query()],
) -> Response:
    """Check the request; with a live browser session (and no prompt=login) send the
    code at once, with prompt=none and none send login_required, else show the form."""
    params = _params(query)
    accepted = _accept(request, db, runtime, params)
    if isinstance(accepted, Response):
        return accepted
    now = datetime.now(UTC)
    session = browser_sessions.current(db, request.cookies.get(browser_sessions.COOKIE), now)
    if (
        session is not None
        and accepted.prompt is not Prompt.LOGIN
        and (not query.tenant or query.tenant == session.tenant_slug)
    ):
        location = code_flow.issue_code(
            db,
            accepted,
            tenant_id=session.tenant_id,
            user_id=session.user_id,
            auth_time=session.auth_time,
            now=now,
        )
        return RedirectResponse(location, status_code=303)
    if accepted.prompt is Prompt.NONE:
        error = AuthorizeError("login_required", "the user is not signed in")
        return RedirectResponse(accepted.error_redirect(error), status_code=303)
    return _form(request, db, runtime, query, email=query.login_hint or "")


@router.post("/authorize", response_class=HTMLResponse)
def sign_in(
    request: Request,
    db: DbSession,
    runtime: AppRuntime,
    form: Annotated[SignInForm, Form()],
) -> Response:
    """The form came back: check it as GET did, then the password as /token does."""
    accepted = _accept(request, db, runtime, _params(form))
    if isinstance(accepted, Response):
        return accepted
    key = runtime.settings.signing_secret()
    try:
        check_csrf(request, key, form.csrf_token)
        limit_token_requests(request, runtime)
        if not form.tenant:
            raise InvalidGrantError("name your organisation")
        verified = auth.verify_login(
            db,
            runtime.passwords,
            auth.PasswordLogin(
                tenant_slug=form.tenant,
                email=form.email,
                password=form.password,
                requested_scopes=frozenset(),
                user_agent=request.headers.get("user-agent", ""),
            ),
        )
    except CsrfError as exc:
        return _form(request, db, runtime, form, email=form.email, error=str(exc), status=403)
    except RateLimitedError as exc:
        return _form(request, db, runtime, form, email=form.email, error=str(exc), status=429)
    except InvalidGrantError as exc:
        # A failed login's audit event and counted failure are kept: the page is an
        # ordinary answer, so the unit of work commits them.
        return _form(
            request, db, runtime, form, email=form.email, error=exc.description, status=400
        )
    step = factors.login_step(db, verified.tenant_id, verified.user_id, verified.now)
    if step is factors.LoginStep.SECOND_FACTOR:
        challenge = mfa_challenges.challenge(
            db,
            tenant_id=verified.tenant_id,
            user_id=verified.user_id,
            scope="",
            resource=form.resource,
            user_agent=request.headers.get("user-agent", ""),
            now=verified.now,
        )
        return _factor_form(request, db, runtime, form, challenge.mfa_token)
    return _signed_in(request, db, runtime, accepted, verified)


@router.post("/authorize/second-factor", response_class=HTMLResponse)
def second_factor(
    request: Request,
    db: DbSession,
    runtime: AppRuntime,
    form: Annotated[SecondFactorForm, Form()],
) -> Response:
    """The password was right and the user has a factor: check it as the mfa grant
    does (the lockout counts a wrong one), then sign in. A used or expired challenge
    goes back to the password."""
    accepted = _accept(request, db, runtime, _params(form))
    if isinstance(accepted, Response):
        return accepted
    key = runtime.settings.signing_secret()
    now = datetime.now(UTC)
    try:
        check_csrf(request, key, form.csrf_token)
        limit_token_requests(request, runtime)
        found = mfa_challenges.pending(db, form.mfa_token, now)
    except CsrfError as exc:
        return _factor_form(request, db, runtime, form, form.mfa_token, str(exc), status=403)
    except RateLimitedError as exc:
        return _factor_form(request, db, runtime, form, form.mfa_token, str(exc), status=429)
    except InvalidGrantError as exc:
        return _form(request, db, runtime, form, email="", error=exc.description, status=400)
    try:
        factors.verify(
            db,
            runtime.factor_sealer,
            runtime.effects,
            found.user,
            otp=form.otp or None,
            recovery_code=form.recovery_code or None,
            now=now,
        )
    except InvalidGrantError as exc:
        # Kept: the unit of work commits the counted failure with this answer.
        return _factor_form(request, db, runtime, form, form.mfa_token, exc.description, status=400)
    found.challenge.used_at = now
    subject = subjects.load(db, found.user.tenant_id, found.user.id, now)
    refusal = None if subject is None else may_act(subject.user_status, subject.tenant_status)
    if subject is None or refusal is not None:
        return _form(request, db, runtime, form, email="", error=mfa_challenges.INVALID)
    verified = auth.VerifiedLogin(found.user.tenant_id, found.user.id, subject, None, now)
    return _signed_in(request, db, runtime, accepted, verified)


def _factor_form(
    request: Request,
    db: Session,
    runtime: Runtime,
    query: AuthorizeQuery,
    mfa_token: str,
    error: str | None = None,
    status: int = 200,
) -> Response:
    """The second-factor step, carrying the challenge the password step left."""
    fields = {"mfa_token": mfa_token}
    return _hosted(request, db, runtime, query, SECOND_FACTOR, fields, error, status)


def _signed_in(
    request: Request,
    db: Session,
    runtime: Runtime,
    accepted: AuthorizationRequest,
    verified: auth.VerifiedLogin,
) -> Response:
    """Every step passed: start the browser session, set its cookie, send the code."""
    signed = browser_sessions.start(
        db,
        runtime.issuers.refresh,
        verified,
        user_agent=request.headers.get("user-agent", ""),
    )
    location = code_flow.issue_code(
        db,
        accepted,
        tenant_id=verified.tenant_id,
        user_id=verified.user_id,
        auth_time=verified.now,
        now=verified.now,
    )
    response = RedirectResponse(location, status_code=303)
    response.set_cookie(
        browser_sessions.COOKIE,
        signed.cookie,
        expires=signed.expires_at,
        path="/",
        # No Domain attribute: host-only. Lax: sent on the top-level navigation that
        # brings the browser back to /authorize from the application.
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/logout", response_class=HTMLResponse)
def logout(
    request: Request, db: DbSession, runtime: AppRuntime, query: Annotated[LogoutQuery, Query()]
) -> Response:
    """RP-initiated logout. With an id_token_hint of the signed-in user, at once; without
    one, after the person confirms (a form, so another site cannot sign them out)."""
    target = _logout_target(request, db, runtime, query)
    if isinstance(target, Response):
        return target
    now = datetime.now(UTC)
    session = browser_sessions.current(db, request.cookies.get(browser_sessions.COOKIE), now)
    hinted = _hinted_user(runtime, query)
    if session is not None and (hinted is None or hinted != str(session.user_id)):
        key = runtime.settings.signing_secret()
        context = {"confirm": True, **_q(query)}
        return page(request, key, SIGNED_OUT, context, redirects_to=target)
    return _signed_out(request, db, runtime, session, target, query.state, now)


@router.post("/logout", response_class=HTMLResponse)
def confirm_logout(
    request: Request, db: DbSession, runtime: AppRuntime, form: Annotated[LogoutForm, Form()]
) -> Response:
    target = _logout_target(request, db, runtime, form)
    if isinstance(target, Response):
        return target
    key = runtime.settings.signing_secret()
    try:
        check_csrf(request, key, form.csrf_token)
    except CsrfError as exc:
        context = {"confirm": True, "error": str(exc), **_q(form)}
        return page(request, key, SIGNED_OUT, context, status=403, redirects_to=target)
    now = datetime.now(UTC)
    session = browser_sessions.current(db, request.cookies.get(browser_sessions.COOKIE), now)
    return _signed_out(request, db, runtime, session, target, form.state, now)


def _signed_out(
    request: Request,
    db: Session,
    runtime: Runtime,
    session: browser_sessions.BrowserSession | None,
    target: str | None,
    state: str | None,
    now: datetime,
) -> Response:
    if session is not None:
        # The person ends their own session, as DELETE /me/sessions/{id} does.
        sessions.end_session(db, session.tenant_id, session.user_id, session.id, now)
    response: Response
    if target is not None:
        response = RedirectResponse(rules.redirect_with(target, {"state": state}), 303)
    else:
        key = runtime.settings.signing_secret()
        response = page(request, key, SIGNED_OUT, {"confirm": False})
    response.delete_cookie(browser_sessions.COOKIE, path="/", httponly=True, samesite="lax")
    return response


def _logout_target(
    request: Request, db: Session, runtime: Runtime, query: LogoutQuery
) -> str | Response | None:
    """Where to send the browser after logout: a post_logout_redirect_uri the client
    (named by client_id or the hint's aud) registered, or nowhere (a page)."""
    # The confirmation form sends absent fields back empty.
    uri = query.post_logout_redirect_uri or None
    if uri is None:
        return None
    client_id = query.client_id
    if client_id is None and query.id_token_hint:
        try:
            aud = runtime.issuers.id_tokens.read_hint(query.id_token_hint)["aud"]
        except IdTokenHintError as exc:
            return _error_page(request, runtime, str(exc))
        client_id = aud if isinstance(aud, str) else None
    client = clients.by_client_id(db, client_id) if client_id else None
    if client is None or uri not in client.post_logout_redirect_uris:
        return _error_page(
            request, runtime, "post_logout_redirect_uri is not one the client registered"
        )
    return uri


def _hinted_user(runtime: Runtime, query: LogoutQuery) -> str | None:
    if not query.id_token_hint:
        return None
    try:
        return str(runtime.issuers.id_tokens.read_hint(query.id_token_hint)["sub"])
    except IdTokenHintError:
        return None


def _accept(
    request: Request, db: Session, runtime: Runtime, params: AuthorizeParams
) -> AuthorizationRequest | Response:
    """The accepted request, or the answer that refuses it: an error page for an
    untrusted client or redirect URI, a redirect with the error for anything else."""
    try:
        client, redirect_uri = code_flow.registered_target(db, params)
    except RedirectionError as exc:
        return _error_page(request, runtime, str(exc))
    try:
        return code_flow.check_request(
            db,
            client,
            redirect_uri,
            params,
            own_audience=runtime.settings.jwt_audience,
            oidc=runtime.issuers.id_tokens.available,
        )
    except AuthorizeError as exc:
        refused = rules.redirect_with(
            redirect_uri,
            {"error": exc.code, "error_description": exc.description, "state": params.state},
        )
        return RedirectResponse(refused, status_code=303)


def _form(
    request: Request,
    db: Session,
    runtime: Runtime,
    query: AuthorizeQuery,
    *,
    email: str,
    error: str | None = None,
    status: int = 200,
) -> Response:
    """The sign-in form, with the tenant's name when the request names a tenant."""
    return _hosted(request, db, runtime, query, SIGN_IN, {"email": email}, error, status)


def _hosted(
    request: Request,
    db: Session,
    runtime: Runtime,
    query: AuthorizeQuery,
    template: str,
    fields: dict[str, str],
    error: str | None,
    status: int,
) -> Response:
    """A step of the sign-in: the request's parameters carried, the tenant named."""
    tenant = tenants.enter_by_slug(db, query.tenant) if query.tenant else None
    context: dict[str, Any] = {
        "carried": {name: getattr(query, name) for name in _CARRIED if getattr(query, name)},
        "tenant": query.tenant or "",
        "tenant_name": tenant.name if tenant is not None else None,
        "error": error,
        **fields,
    }
    key = runtime.settings.signing_secret()
    # Checked to be registered (`_accept`) before any step is shown; every step's form
    # may end in a redirect there, which form-action must allow.
    target = query.redirect_uri
    return page(request, key, template, context, status=status, redirects_to=target)


def _error_page(request: Request, runtime: Runtime, reason: str) -> Response:
    """An error the browser must not be redirected with: shown here, with no form."""
    key = runtime.settings.signing_secret()
    return page(request, key, ERROR, {"reason": reason}, status=400)


def _params(query: AuthorizeQuery) -> AuthorizeParams:
    return AuthorizeParams(**{name: getattr(query, name) for name in AuthorizeParams.__slots__})


def _q(query: LogoutQuery) -> dict[str, Any]:
    return {
        "id_token_hint": query.id_token_hint or "",
        "post_logout_redirect_uri": query.post_logout_redirect_uri or "",
        "client_id": query.client_id or "",
        "state": query.state or "",
    }
