"""The hosted sign-in: GET/POST /authorize (RFC 6749 §4.1, PKCE, OpenID Connect).

Server-rendered pages that work without JavaScript (api/hosted.py: CSRF on every form,
a CSP that forbids framing and every asset from elsewhere). An untrusted client or
redirect URI gets an error page, never a redirect; every other refusal goes back to the
registered redirect URI with the client's `state` (RFC 6749 §4.1.2.1).

Signing in is a sequence of steps. The first is the password (`auth.verify_login`, the
same checks, lockout and timing as the password grant) or a live browser session. What
follows is `factors.next_step`'s to say, with the request's `acr_values`: the user's
second factor (`/authorize/second-factor`, the same check as the mfa grant); enrolling
one where the tenant requires it (`/authorize/enrol`); or nothing. Then `pages.signed_in`
starts the browser session and sends the code, which carries the methods (`amr`) of the
steps passed. A session asked for more than it proved is stepped up, not replaced.
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from backend.api import sign_in_pages as pages
from backend.api.deps import AppRuntime, DbSession
from backend.api.hosted import CsrfError, check_csrf
from backend.api.routes.auth import limit_token_requests
from backend.api.schemas.sign_in import (
    AuthorizeQuery,
    EnrolForm,
    SecondFactorForm,
    SignInForm,
)
from backend.domain.assurance import MFA, OTP, PASSWORD, satisfies
from backend.domain.code_flow import AuthorizeError, Prompt
from backend.domain.errors import (
    InvalidGrantError,
    NotFoundError,
    RateLimitedError,
    SecondFactorFailedError,
)
from backend.domain.standing import may_act
from backend.domain.subjects import SubjectKind
from backend.runtime import Runtime
from backend.services import (
    auth,
    browser_sessions,
    enrolment,
    factors,
    mfa_challenges,
    passkeys,
    subjects,
)
from backend.services.code_flow import AuthorizationRequest
from backend.services.factors import LoginStep
from backend.services.principals import Principal

router = APIRouter(include_in_schema=False)
# OpenID Connect's error when the sign-in cannot reach the `acr_values` asked (OpenID
# Connect Core Unmet Authentication Requirements 1.0).
UNMET = "unmet_authentication_requirements"
ENROLLED_METHODS = f"{PASSWORD} {OTP} {MFA}"
SESSION_GONE = "your session has ended: sign in again"


@router.get("/authorize", response_class=HTMLResponse)
def authorize(
    request: Request,
    db: DbSession,
    runtime: AppRuntime,
    query: Annotated[AuthorizeQuery, Query()],
) -> Response:
    """Check the request; with a live browser session (and no prompt=login, nor a
    max_age it is older than) go on from it, with prompt=none and none send
    login_required, else show the form."""
    params = pages.params_of(query)
    accepted = pages.accept(request, db, runtime, params)
    if isinstance(accepted, Response):
        return accepted
    now = datetime.now(UTC)
    session = browser_sessions.current(db, request.cookies.get(browser_sessions.COOKIE), now)
    if (
        session is not None
        and accepted.prompt is not Prompt.LOGIN
        and (not query.tenant or query.tenant == session.tenant_slug)
        and (
            accepted.max_age is None
            or (now - session.auth_time).total_seconds() <= accepted.max_age
        )
    ):
        return _from_session(request, db, runtime, query, accepted, session, now)
    if accepted.prompt is Prompt.NONE:
        error = AuthorizeError("login_required", "the user is not signed in")
        return RedirectResponse(accepted.error_redirect(error), status_code=303)
    return pages.password_page(request, db, runtime, query, email=query.login_hint or "")


def _from_session(
    request: Request,
    db: Session,
    runtime: Runtime,
    query: AuthorizeQuery,
    accepted: AuthorizationRequest,
    session: browser_sessions.BrowserSession,
    now: datetime,
) -> Response:
    """A code at once from the browser session, unless the request asks a class of
    authentication the session did not reach (`acr_values`), or the tenant now requires
    a factor the user has not enrolled: then the step that gets there, on this session."""
    upcoming = factors.next_step(db, session.tenant_id, session.user_id, now)
    if satisfies(session.amr.split(), accepted.acr) and upcoming.step is not LoginStep.ENROL_FIRST:
        return pages.send_code(db, accepted, session)
    if accepted.prompt is Prompt.NONE:
        error = AuthorizeError("interaction_required", "the sign-in needs the user's second factor")
        return RedirectResponse(accepted.error_redirect(error), status_code=303)
    # The pages name the session's tenant, which the request may have left out.
    named = query.model_copy(update={"tenant": session.tenant_slug})
    return _further(
        request,
        db,
        runtime,
        named,
        accepted,
        session.tenant_id,
        session.user_id,
        upcoming,
        session=session,
    )


@router.post("/authorize", response_class=HTMLResponse)
def sign_in(
    request: Request,
    db: DbSession,
    runtime: AppRuntime,
    form: Annotated[SignInForm, Form()],
) -> Response:
    """The form came back: check it as GET did, then the password as /token does."""
    accepted = pages.accept(request, db, runtime, pages.params_of(form))
    if isinstance(accepted, Response):
        return accepted

    def check() -> auth.VerifiedLogin:
        if not form.tenant:
            raise InvalidGrantError("name your organisation")
        return auth.verify_login(
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

    verified = pages.first_step(request, db, runtime, form, check, email=form.email)
    if isinstance(verified, Response):
        return verified
    upcoming = factors.next_step(db, verified.tenant_id, verified.user_id, verified.now)
    return _further(
        request,
        db,
        runtime,
        form,
        accepted,
        verified.tenant_id,
        verified.user_id,
        upcoming,
        verified=verified,
    )


def _further(
    request: Request,
    db: Session,
    runtime: Runtime,
    query: AuthorizeQuery,
    accepted: AuthorizationRequest,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    upcoming: factors.Next,
    *,
    verified: auth.VerifiedLogin | None = None,
    session: browser_sessions.BrowserSession | None = None,
) -> Response:
    """After the password (`verified`) or a browser session that does not reach what
    the request asks (`session`, which the steps raise): the user's factor, enrolling
    one, or, for a password that is enough, the sign-in."""
    enrol = upcoming.step in (LoginStep.ENROL_FIRST, LoginStep.ENROL_OFFERED)
    if upcoming.step is LoginStep.SECOND_FACTOR or enrol:
        challenge = mfa_challenges.challenge(
            db,
            tenant_id=tenant_id,
            user_id=user_id,
            scope="",
            resource=query.resource,
            user_agent=request.headers.get("user-agent", ""),
            now=datetime.now(UTC),
            session_id=session.id if session is not None else None,
        )
        if not enrol:
            passkey = passkeys.second_factor_options(
                db, runtime.relying_party, tenant_id, user_id, datetime.now(UTC)
            )
            return pages.factor_page(
                request, db, runtime, query, challenge.mfa_token, passkey=passkey
            )
        started = enrolment.start_totp(
            db, runtime.factor_sealer, _as_user(tenant_id, user_id), "authenticator app"
        )
        return pages.enrol_page(
            request, db, runtime, query, accepted, challenge.mfa_token, started, upcoming
        )
    if verified is None or not satisfies((PASSWORD,), accepted.acr):
        error = AuthorizeError(
            UNMET, "this sign-in needs a second factor the user has not enrolled"
        )
        return RedirectResponse(accepted.error_redirect(error), status_code=303)
    return pages.signed_in(request, db, runtime, accepted, verified, PASSWORD)


@router.post("/authorize/second-factor", response_class=HTMLResponse)
def second_factor(
    request: Request,
    db: DbSession,
    runtime: AppRuntime,
    form: Annotated[SecondFactorForm, Form()],
) -> Response:
    """The password was right (or a session asked to step up) and the user has a
    factor: check it as the mfa grant does (the lockout counts a wrong one), then sign
    in. A used or expired challenge goes back to the password."""
    accepted = pages.accept(request, db, runtime, pages.params_of(form))
    if isinstance(accepted, Response):
        return accepted
    now = datetime.now(UTC)

    def again(error: str, status: int) -> Response:
        return pages.factor_page(request, db, runtime, form, form.mfa_token, error, status)

    found = _challenge_of(request, db, runtime, form, again, now)
    if isinstance(found, Response):
        return found
    assertion = form.webauthn_assertion
    try:
        proved = factors.verify(
            db,
            runtime.factor_sealer,
            runtime.effects,
            found.user,
            otp=form.otp or None,
            recovery_code=form.recovery_code or None,
            passkey=passkeys.Answer(runtime.relying_party, assertion) if assertion else None,
            now=now,
        )
    except InvalidGrantError as exc:
        # Kept: the unit of work commits the counted failure with this answer. A passkey
        # button gets a new challenge: the one it had is used, right or wrong.
        passkey = passkeys.second_factor_options(
            db, runtime.relying_party, found.user.tenant_id, found.user.id, now
        )
        return pages.factor_page(
            request, db, runtime, form, form.mfa_token, exc.description, 400, passkey=passkey
        )
    return _passed(request, db, runtime, form, accepted, found, " ".join((PASSWORD, *proved)), now)


@router.post("/authorize/enrol", response_class=HTMLResponse)
def enrol(
    request: Request,
    db: DbSession,
    runtime: AppRuntime,
    form: Annotated[EnrolForm, Form()],
) -> Response:
    """The tenant requires a second factor and the user has none: the first code of the
    authenticator app the page showed confirms it, and the recovery codes are shown
    once; within the grace, `later` signs in with the password alone."""
    accepted = pages.accept(request, db, runtime, pages.params_of(form))
    if isinstance(accepted, Response):
        return accepted
    now = datetime.now(UTC)

    def again(error: str, status: int) -> Response:
        return pages.password_page(request, db, runtime, form, email="", error=error, status=status)

    # Locked: of two confirmations of one enrolment, the second waits, then finds the
    # challenge used and goes back to the password.
    found = _challenge_of(request, db, runtime, form, again, now)
    if isinstance(found, Response):
        return found
    user = _as_user(found.user.tenant_id, found.user.id)
    upcoming = factors.next_step(db, user.tenant_id, found.user.id, now)
    if form.later:
        # Never for a session's step-up: it came here because the session falls short.
        if (
            upcoming.step is LoginStep.ENROL_OFFERED
            and found.challenge.session_id is None
            and satisfies((PASSWORD,), accepted.acr)
        ):
            return _passed(request, db, runtime, form, accepted, found, PASSWORD, now)
        return _enrol_again(
            request, db, runtime, form, accepted, user, upcoming, "enrol a second factor to go on"
        )
    try:
        codes = enrolment.confirm_totp(db, runtime.factor_sealer, user, form.code)
    except SecondFactorFailedError as exc:
        return _enrol_again(request, db, runtime, form, accepted, user, upcoming, str(exc))
    except NotFoundError:
        return pages.password_page(
            request, db, runtime, form, email="", error=mfa_challenges.INVALID, status=400
        )
    return _passed(request, db, runtime, form, accepted, found, ENROLLED_METHODS, now, codes)


def _challenge_of(
    request: Request,
    db: Session,
    runtime: Runtime,
    form: SecondFactorForm | EnrolForm,
    again: Callable[[str, int], Response],
    now: datetime,
) -> mfa_challenges.Pending | Response:
    """The challenge a step's form carries, locked, after its CSRF token and the rate
    limit; `again` shows the step once more with a refusal, and a challenge that cannot
    complete a sign-in any more goes back to the password."""
    try:
        check_csrf(request, runtime.settings.signing_secret(), form.csrf_token)
        limit_token_requests(request, runtime)
        return mfa_challenges.pending(db, form.mfa_token, now)
    except CsrfError as exc:
        return again(str(exc), 403)
    except RateLimitedError as exc:
        return again(str(exc), 429)
    except InvalidGrantError as exc:
        return pages.password_page(
            request, db, runtime, form, email="", error=exc.description, status=400
        )


def _passed(
    request: Request,
    db: Session,
    runtime: Runtime,
    form: AuthorizeQuery,
    accepted: AuthorizationRequest,
    found: mfa_challenges.Pending,
    amr: str,
    now: datetime,
    recovery_codes: list[str] | None = None,
) -> Response:
    """A challenge's step passed with the methods `amr`: the challenge is used, and the
    user, if they may still act, is signed in (a new session after a password, or the
    session the challenge steps up); the code is sent, or the new recovery codes shown
    first, with a button to go on."""
    found.challenge.used_at = now
    tenant_id, user_id = found.user.tenant_id, found.user.id
    subject = subjects.load(db, tenant_id, user_id, now)
    refusal = None if subject is None else may_act(subject.user_status, subject.tenant_status)
    if subject is None or refusal is not None:
        return pages.password_page(
            request, db, runtime, form, email="", error=mfa_challenges.INVALID
        )
    signed: browser_sessions.SignedIn | None = None
    if found.challenge.session_id is None:
        verified = auth.VerifiedLogin(tenant_id, user_id, subject, None, now)
        signed = pages.start_session(request, db, runtime, verified, amr)
        session: browser_sessions.BrowserSession | None = signed.session
    else:
        current = browser_sessions.current(db, request.cookies.get(browser_sessions.COOKIE), now)
        same = current is not None and current.id == found.challenge.session_id
        session = browser_sessions.step_up(db, current, amr) if current and same else None
    if session is None:
        return pages.password_page(
            request, db, runtime, form, email="", error=SESSION_GONE, status=400
        )
    response: Response
    if recovery_codes is None:
        response = pages.send_code(db, accepted, session)
    else:
        fields = {"recovery_codes": recovery_codes, "continue_fields": pages.continue_fields(form)}
        response = pages.step_page(
            request, db, runtime, form, pages.RECOVERY_CODES, fields, None, 200
        )
    return pages.with_cookie(request, response, signed) if signed is not None else response


def _as_user(tenant_id: uuid.UUID, user_id: uuid.UUID) -> Principal:
    """The user the sign-in is for, as the factors service names whoever enrols (no
    token yet: the scopes are none)."""
    return Principal(
        kind=SubjectKind.USER,
        subject_id=user_id,
        tenant_id=tenant_id,
        scopes=frozenset(),
        platform=False,
    )


def _enrol_again(
    request: Request,
    db: Session,
    runtime: Runtime,
    form: EnrolForm,
    accepted: AuthorizationRequest,
    user: Principal,
    upcoming: factors.Next,
    error: str,
) -> Response:
    """The enrolment page once more, for the same factor, with why it did not go on."""
    started = enrolment.pending_totp(db, runtime.factor_sealer, user)
    if started is None:
        return pages.password_page(
            request, db, runtime, form, email="", error=mfa_challenges.INVALID, status=400
        )
    return pages.enrol_page(
        request, db, runtime, form, accepted, form.mfa_token, started, upcoming, error, 400
    )
