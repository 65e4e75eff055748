"""The hosted pages mailed links lead to: choose a new password, confirm an email.

The same use cases as POST /password-resets/confirm and /email-verifications/confirm,
as HTML forms (no JavaScript needed). Confirming an email takes a click, not just the
GET: mail scanners fetch links, and must not verify an address on the user's behalf.
"""

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from backend.api.deps import AppRuntime, DbSession
from backend.api.hosted import CSRF_FIELD, CsrfError, check_csrf, page
from backend.api.routes.auth import limit_token_requests
from backend.domain.errors import InvalidRequestError, RateLimitedError
from backend.domain.policy import WeakPasswordError
from backend.services import account_tokens, email_verification, password_resets

router = APIRouter(include_in_schema=False)
RESET_TEMPLATE = "reset_password.html"
VERIFY_TEMPLATE = "verify_email.html"
Token = Annotated[str, Query(max_length=200)]
FormToken = Annotated[str, Form(max_length=200)]
Csrf = Annotated[str | None, Form(alias=CSRF_FIELD, max_length=200)]


def _reset_context(db: DbSession, token: str) -> dict[str, object]:
    found = password_resets.page_for(db, token)
    if found is None:
        return {"token": token, "usable": False, "error": account_tokens.INVALID}
    return {
        "token": token,
        "usable": True,
        "tenant_name": found.tenant_name,
        "needs_factor": found.needs_factor,
    }


@router.get("/reset-password", response_class=HTMLResponse)
def reset_page(
    request: Request, db: DbSession, runtime: AppRuntime, token: Token = ""
) -> HTMLResponse:
    key = runtime.settings.signing_secret()
    return page(request, key, RESET_TEMPLATE, _reset_context(db, token))


@router.post("/reset-password", response_class=HTMLResponse)
def reset_on_page(
    request: Request,
    db: DbSession,
    runtime: AppRuntime,
    token: FormToken = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    otp: Annotated[str, Form(max_length=6)] = "",
    recovery_code: Annotated[str, Form(max_length=40)] = "",
    csrf_token: Csrf = None,
) -> HTMLResponse:
    """Set the password; a refusal shows the form again with the reason, announced."""
    key = runtime.settings.signing_secret()
    context = _reset_context(db, token)
    try:
        check_csrf(request, key, csrf_token)
        limit_token_requests(request, runtime)
        password_resets.confirm(
            db,
            runtime.effects,
            runtime.passwords,
            runtime.factor_sealer,
            token=token,
            password=password,
            otp=otp or None,
            recovery_code=recovery_code or None,
        )
    except CsrfError as exc:
        return page(request, key, RESET_TEMPLATE, {**context, "error": str(exc)}, status=403)
    except RateLimitedError as exc:
        return page(request, key, RESET_TEMPLATE, {**context, "error": str(exc)}, status=429)
    except (InvalidRequestError, WeakPasswordError) as exc:
        # Answered, not raised: the request's unit of work commits, keeping a refused
        # second factor's count as the API does. Nothing else has changed by then.
        return page(request, key, RESET_TEMPLATE, {**context, "error": str(exc)}, status=400)
    return page(request, key, RESET_TEMPLATE, {**context, "done": True})


@router.get("/verify-email", response_class=HTMLResponse)
def verify_page(
    request: Request, db: DbSession, runtime: AppRuntime, token: Token = ""
) -> HTMLResponse:
    key = runtime.settings.signing_secret()
    return page(request, key, VERIFY_TEMPLATE, {"token": token, "usable": bool(token)})


@router.post("/verify-email", response_class=HTMLResponse)
def verify_on_page(
    request: Request,
    db: DbSession,
    runtime: AppRuntime,
    token: FormToken = "",
    csrf_token: Csrf = None,
) -> HTMLResponse:
    key = runtime.settings.signing_secret()
    context = {"token": token, "usable": True}
    try:
        check_csrf(request, key, csrf_token)
        email_verification.confirm(db, runtime.effects, token)
    except CsrfError as exc:
        return page(request, key, VERIFY_TEMPLATE, {**context, "error": str(exc)}, status=403)
    except InvalidRequestError as exc:
        return page(request, key, VERIFY_TEMPLATE, {"usable": False, "error": str(exc)}, status=400)
    return page(request, key, VERIFY_TEMPLATE, {**context, "done": True})
