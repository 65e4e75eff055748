"""Account recovery without an admin: password reset by mail, and email verification."""

from typing import Any

from fastapi import APIRouter, Request, Response

from backend.api.deps import AppRuntime, DbSession, Me
from backend.api.headers import NO_STORE
from backend.api.routes.auth import limit_token_requests
from backend.api.schemas.errors import GUARDED_RESPONSES, ErrorBody
from backend.api.schemas.recovery import (
    EmailVerificationConfirm,
    PasswordResetAccepted,
    PasswordResetConfirm,
    PasswordResetRequest,
)
from backend.services import email_verification, password_resets, users

router = APIRouter(tags=["recovery"])
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorBody, "description": "rate_limited: retry after Retry-After"}
}


@router.post(
    "/password-resets",
    status_code=202,
    response_model=PasswordResetAccepted,
    responses=RATE_LIMITED,
)
def request_password_reset(
    body: PasswordResetRequest, request: Request, runtime: AppRuntime
) -> PasswordResetAccepted:
    """Ask for a password reset link by mail. Always 202 with the same body, whether or
    not the tenant or the email exists: the request is queued (sealed) for the worker
    before anything is looked up, so neither the answer nor its timing tells. The link
    works once, for 15 minutes; a newer request or any password change kills it.
    Counted against the client address's budget of POST /token."""
    limit_token_requests(request, runtime)
    runtime.sealed_queue.password_reset(body.tenant, body.email)
    return PasswordResetAccepted()


@router.post(
    "/password-resets/confirm",
    status_code=204,
    responses={
        **RATE_LIMITED,
        400: {
            "model": ErrorBody,
            "description": "The token is invalid, expired or used; or the second factor is "
            "wrong or missing (invalid_grant, counted towards the lockout)",
        },
    },
)
def confirm_password_reset(
    body: PasswordResetConfirm, request: Request, db: DbSession, runtime: AppRuntime
) -> Response:
    """Set a new password with the token from the mail. The tenant's password policy
    applies (422 with the reason; the token stays usable). A user with a second factor
    sends it too (`otp` or `recovery_code`): a reset never bypasses it. Every session and
    access token of the user ends; log in again at POST /token."""
    limit_token_requests(request, runtime)
    password_resets.confirm(
        db,
        runtime.effects,
        runtime.passwords,
        runtime.factor_sealer,
        token=body.token,
        password=body.new_password.get_secret_value(),
        otp=body.otp.get_secret_value() if body.otp is not None else None,
        recovery_code=(
            body.recovery_code.get_secret_value() if body.recovery_code is not None else None
        ),
    )
    return Response(status_code=204, headers=NO_STORE)


@router.post(
    "/email-verifications/confirm",
    status_code=204,
    responses={400: {"model": ErrorBody, "description": "The token is invalid, expired or used"}},
)
def confirm_email(body: EmailVerificationConfirm, db: DbSession, runtime: AppRuntime) -> Response:
    """Verify your email with the token from the mail; GET /me then says
    `email_verified: true`. The link works once, for 48 hours, for the address it was
    sent to."""
    email_verification.confirm(db, runtime.effects, body.token)
    return Response(status_code=204)


@router.post(
    "/me/email-verification",
    status_code=202,
    response_class=Response,
    responses={**GUARDED_RESPONSES, 202: {"description": "Queued, or nothing to send"}},
)
def resend_verification(principal: Me, db: DbSession, runtime: AppRuntime) -> Response:
    """Mail yourself a new verification link (the one before stops working); 202 also
    when your email is verified already, with nothing sent."""
    user = users.get(db, principal.tenant_id, principal.require_user())
    if user.email_verified_at is None:
        email_verification.send(db, runtime.effects, user)
    return Response(status_code=202)
