"""The pages of the hosted sign-in's steps (backend/api/routes/sign_in.py): each one
carries the authorization request's parameters in hidden fields, names the tenant, and
allows its form's redirect to the client; and the request's acceptance, which refuses an
untrusted client with a page and anything else with a redirect to it."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from backend.api.hosted import CsrfError, check_csrf, error_page, page
from backend.api.routes.auth import limit_token_requests
from backend.api.schemas.sign_in import AuthorizeQuery, PasskeySignInForm, SignInForm
from backend.domain import code_flow as rules
from backend.domain.assurance import PASSWORD, satisfies
from backend.domain.code_flow import AuthorizeError, RedirectionError
from backend.domain.errors import InvalidGrantError, RateLimitedError
from backend.runtime import Runtime
from backend.security.passkeys import Options
from backend.services import (
    auth,
    browser_sessions,
    code_flow,
    enrolment,
    factors,
    passkey_sign_in,
    tenants,
)
from backend.services.code_flow import AuthorizationRequest, AuthorizeParams
from backend.services.factors import LoginStep

SIGN_IN = "sign_in.html"
SECOND_FACTOR = "sign_in_factor.html"
ENROL = "sign_in_enrol.html"
RECOVERY_CODES = "sign_in_recovery_codes.html"
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
    "acr_values",
    "max_age",
)
# What a sign-in that just happened answers already: the "continue" after enrolment
# leaves them out, or it would ask for the password again.
_FRESH_SIGN_IN = ("prompt", "max_age")


def with_cookie(
    request: Request, response: Response, signed: browser_sessions.SignedIn
) -> Response:
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


def factor_page(
    request: Request,
    db: Session,
    runtime: Runtime,
    query: AuthorizeQuery,
    mfa_token: str,
    error: str | None = None,
    status: int = 200,
    *,
    passkey: Options | None = None,
) -> Response:
    """The second-factor step, carrying the challenge the password step left; with the
    user's passkeys' assertion options (services/passkeys.second_factor_options), a
    "Use a passkey" button too."""
    fields = {"mfa_token": mfa_token, "passkey_options": _json(passkey)}
    return step_page(request, db, runtime, query, SECOND_FACTOR, fields, error, status)


def enrol_page(
    request: Request,
    db: Session,
    runtime: Runtime,
    query: AuthorizeQuery,
    accepted: AuthorizationRequest,
    mfa_token: str,
    started: enrolment.TotpEnrolment,
    upcoming: factors.Next,
    error: str | None = None,
    status: int = 200,
) -> Response:
    """The enrolment step: the QR code and the otpauth URI, a field for the first code;
    and "later" while the grace lasts, unless the request needs the factor now."""
    later = upcoming.step is LoginStep.ENROL_OFFERED and satisfies((PASSWORD,), accepted.acr)
    fields = {
        "mfa_token": mfa_token,
        # The factors service's SVG, from segno: paths only, no script, no reference.
        "qr_svg": started.qr_svg,
        "otpauth_uri": started.uri,
        "later": later,
        "days_left": upcoming.grace_days_left,
    }
    return step_page(request, db, runtime, query, ENROL, fields, error, status)


def accept(
    request: Request, db: Session, runtime: Runtime, params: AuthorizeParams
) -> AuthorizationRequest | Response:
    """The accepted request, or the answer that refuses it: an error page for an
    untrusted client or redirect URI, a redirect with the error for anything else."""
    try:
        client, redirect_uri = code_flow.registered_target(db, params)
    except RedirectionError as exc:
        return error_page(request, runtime.settings.signing_secret(), str(exc))
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


def password_page(
    request: Request,
    db: Session,
    runtime: Runtime,
    query: AuthorizeQuery,
    *,
    email: str,
    error: str | None = None,
    status: int = 200,
) -> Response:
    """The sign-in form, with the tenant's name when the request names a tenant, and a
    "Sign in with a passkey" button when that tenant allows it."""
    passkey = (
        passkey_sign_in.options(db, runtime.relying_party, query.tenant, datetime.now(UTC))
        if query.tenant
        else None
    )
    fields = {"email": email, "passkey_options": _json(passkey)}
    return step_page(request, db, runtime, query, SIGN_IN, fields, error, status)


Checked = TypeVar("Checked")


def first_step(
    request: Request,
    db: Session,
    runtime: Runtime,
    form: SignInForm | PasskeySignInForm,
    check: Callable[[], Checked],
    *,
    email: str = "",
) -> Checked | Response:
    """The sign-in form's first step, however it proves who signs in: its CSRF token, the
    address's /token budget, then `check`. A refusal is the sign-in form again with its
    reason; a failed login's audit event and counted failure are kept, since the page is
    an ordinary answer and the unit of work commits them."""
    try:
        check_csrf(request, runtime.settings.signing_secret(), form.csrf_token)
        limit_token_requests(request, runtime)
        return check()
    except CsrfError as exc:
        error, status = str(exc), 403
    except RateLimitedError as exc:
        error, status = str(exc), 429
    except InvalidGrantError as exc:
        error, status = exc.description, 400
    return password_page(request, db, runtime, form, email=email, error=error, status=status)


def _json(options: Options | None) -> str | None:
    """Options for the page's script, in a data attribute (autoescaped there)."""
    return None if options is None else json.dumps(options, separators=(",", ":"))


def step_page(
    request: Request,
    db: Session,
    runtime: Runtime,
    query: AuthorizeQuery,
    template: str,
    fields: dict[str, Any],
    error: str | None,
    status: int,
) -> Response:
    """A step of the sign-in: the request's parameters carried, the tenant named."""
    tenant = tenants.enter_by_slug(db, query.tenant) if query.tenant else None
    context: dict[str, Any] = {
        "carried": carried(query),
        "tenant": query.tenant or "",
        "tenant_name": tenant.name if tenant is not None else None,
        "error": error,
        # Form actions are relative (a deployment may serve under a path prefix), and a
        # step may be shown at /authorize or one level down.
        "up": "../" * request.url.path.strip("/").count("/"),
        **fields,
    }
    key = runtime.settings.signing_secret()
    # Checked to be registered (`_accept`) before any step is shown; every step's form
    # may end in a redirect there, which form-action must allow.
    target = query.redirect_uri
    # Only a page with a passkey button runs a script (api/static/passkeys.js).
    scripts = bool(fields.get("passkey_options"))
    return page(
        request, key, template, context, status=status, redirects_to=target, scripts=scripts
    )


def carried(query: AuthorizeQuery) -> dict[str, str]:
    """The request's parameters, for a step's hidden fields."""
    return {name: getattr(query, name) for name in _CARRIED if getattr(query, name)}


def continue_fields(query: AuthorizeQuery) -> dict[str, str]:
    """The request again for the "continue" after enrolment, which signed in just now."""
    return {name: v for name, v in carried(query).items() if name not in _FRESH_SIGN_IN}


def params_of(query: AuthorizeQuery) -> AuthorizeParams:
    return AuthorizeParams(**{name: getattr(query, name) for name in AuthorizeParams.__slots__})


def send_code(
    db: Session, accepted: AuthorizationRequest, session: browser_sessions.BrowserSession
) -> Response:
    """The redirect with a code for the session's user, carrying how it authenticated."""
    location = code_flow.issue_code(
        db,
        accepted,
        tenant_id=session.tenant_id,
        user_id=session.user_id,
        auth_time=session.auth_time,
        amr=session.amr,
        now=datetime.now(UTC),
    )
    return RedirectResponse(location, status_code=303)


def signed_in(
    request: Request,
    db: Session,
    runtime: Runtime,
    accepted: AuthorizationRequest,
    verified: auth.VerifiedLogin,
    amr: str,
) -> Response:
    """Every step passed: start the browser session, set its cookie, send the code."""
    signed = start_session(request, db, runtime, verified, amr)
    return with_cookie(request, send_code(db, accepted, signed.session), signed)


def start_session(
    request: Request, db: Session, runtime: Runtime, verified: auth.VerifiedLogin, amr: str
) -> browser_sessions.SignedIn:
    """A new browser session for a sign-in whose steps proved `amr`."""
    return browser_sessions.start(
        db,
        runtime.issuers.refresh,
        verified,
        amr=amr,
        user_agent=request.headers.get("user-agent", ""),
    )
