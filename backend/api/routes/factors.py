"""Your second factors (TOTP, passkeys) and recovery codes; an admin's reset of a user's
factors."""

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from backend.api.deps import (
    AppEffects,
    AppRuntime,
    DbSession,
    Me,
    MeSteppedUp,
    UsersWriteSteppedUp,
)
from backend.api.headers import NO_STORE
from backend.api.routes.auth import limit_token_requests
from backend.api.schemas.errors import CONFLICT, GUARDED_RESPONSES, NOT_FOUND, ErrorBody
from backend.api.schemas.factors import (
    FactorList,
    FactorOut,
    FactorsReset,
    MfaWebauthnStart,
    RecoveryCodesOut,
    TotpConfirm,
    TotpEnrolmentOut,
    TotpStart,
    WebauthnCreationOptions,
    WebauthnCredential,
    WebauthnEnrolled,
    WebauthnRequestOptions,
    WebauthnStart,
)
from backend.services import enrolment, factors, mfa_challenges, recovery_codes

router = APIRouter(tags=["factors"])
WRONG_CODE: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "invalid_grant: the code is wrong"}
}


@router.get("/me/factors", response_model=FactorList, responses=GUARDED_RESPONSES)
def list_factors(principal: Me, db: DbSession) -> FactorList:
    """Your confirmed second factors, and how many unused recovery codes you have left."""
    tenant_id, user_id = principal.tenant_id, principal.require_user()
    return FactorList(
        items=[
            FactorOut(
                id=f.id,
                kind=f.kind.value,
                label=f.label,
                created_at=f.created_at,
                last_used_at=f.last_used_at,
                discoverable=f.discoverable,
                backed_up=f.backed_up,
            )
            for f in factors.confirmed(db, tenant_id, user_id)
        ],
        recovery_codes_left=recovery_codes.remaining(db, tenant_id, user_id),
    )


@router.post(
    "/me/factors/totp",
    status_code=201,
    response_model=TotpEnrolmentOut,
    responses={**GUARDED_RESPONSES, **CONFLICT},
)
def start_totp(
    body: TotpStart, principal: Me, db: DbSession, runtime: AppRuntime, response: Response
) -> TotpEnrolmentOut:
    """Start enrolling an authenticator app: scan `otpauth_uri` (or the QR code in
    `qr_svg`), then confirm with a current code at POST /me/factors/totp/confirm. The
    secret is shown this once. 409 while a TOTP factor is enrolled: remove it first."""
    started = enrolment.start_totp(db, runtime.factor_sealer, principal, body.label)
    response.headers.update(NO_STORE)
    return TotpEnrolmentOut(
        factor_id=started.factor_id, otpauth_uri=started.uri, qr_svg=started.qr_svg
    )


@router.post(
    "/me/factors/totp/confirm",
    response_model=RecoveryCodesOut,
    responses={**GUARDED_RESPONSES, **NOT_FOUND, **WRONG_CODE},
)
def confirm_totp(
    body: TotpConfirm, principal: Me, db: DbSession, runtime: AppRuntime, response: Response
) -> RecoveryCodesOut:
    """Activate the factor with a current 6-digit code; from now on, logins ask for it.
    Your first factor answers with ten recovery codes, shown this once; with a factor
    enrolled already, `recovery_codes` is empty (your codes stand)."""
    codes = enrolment.confirm_totp(
        db, runtime.factor_sealer, principal, body.code.get_secret_value()
    )
    response.headers.update(NO_STORE)
    return RecoveryCodesOut(recovery_codes=codes)


@router.post(
    "/me/factors/webauthn",
    response_model=WebauthnCreationOptions,
    responses={**GUARDED_RESPONSES, **CONFLICT},
)
def start_webauthn(
    body: WebauthnStart, principal: Me, db: DbSession, runtime: AppRuntime, response: Response
) -> dict[str, Any]:
    """Start adding a passkey: PublicKeyCredentialCreationOptions for
    `navigator.credentials.create()`, with a challenge for you alone that lives five
    minutes; send the new credential to POST /me/factors/webauthn/confirm. You may have
    several passkeys. 409 while the tenant has second factors off."""
    options = enrolment.start_webauthn(db, runtime.relying_party, principal, body.label)
    response.headers.update(NO_STORE)
    return options


@router.post(
    "/me/factors/webauthn/confirm",
    response_model=WebauthnEnrolled,
    responses={
        **GUARDED_RESPONSES,
        **CONFLICT,
        400: {
            "model": ErrorBody,
            "description": "invalid_grant: the credential is malformed, does not verify, or "
            "answers no challenge of yours that is still open",
        },
    },
)
def confirm_webauthn(
    body: WebauthnCredential, principal: Me, db: DbSession, runtime: AppRuntime, response: Response
) -> WebauthnEnrolled:
    """Store the passkey `navigator.credentials.create()` made (its `toJSON()`), once it
    verifies: this site's origin and relying party id, your challenge (used up, right
    or wrong), a user present. Your first factor answers with ten recovery codes, shown
    this once; a later one with none (your codes stand). 409 if it is registered."""
    enrolled = enrolment.confirm_webauthn(db, runtime.relying_party, principal, body.model_dump())
    response.headers.update(NO_STORE)
    return WebauthnEnrolled(factor_id=enrolled.factor_id, recovery_codes=enrolled.recovery_codes)


@router.post(
    "/mfa/webauthn/options",
    response_model=WebauthnRequestOptions,
    responses={
        400: {
            "model": ErrorBody,
            "description": "invalid_grant: the mfa_token is invalid, expired or used; "
            "invalid_request: the account has no passkey",
        },
        429: {"model": ErrorBody, "description": "rate_limited: retry after Retry-After"},
    },
    summary="Assertion options to complete an mfa_required login with a passkey",
    tags=["auth"],
)
def mfa_webauthn_options(
    request: Request,
    runtime: AppRuntime,
    db: DbSession,
    body: MfaWebauthnStart,
    response: Response,
) -> dict[str, Any]:
    """PublicKeyCredentialRequestOptions for the passkeys of the user an `mfa_token` is
    for, with a challenge for that user that lives five minutes and is used once. Pass
    them to `navigator.credentials.get()` and send its credential's JSON to POST /token
    as `webauthn_assertion`, with `grant_type=urn:tessera:params:oauth:grant-type:mfa`
    and the `mfa_token`. Counts against the address's budget of POST /token."""
    limit_token_requests(request, runtime)
    options = mfa_challenges.passkey_options(
        db, runtime.relying_party, body.mfa_token, datetime.now(UTC)
    )
    response.headers.update(NO_STORE)
    return options


@router.post(
    "/me/factors/recovery-codes",
    response_model=RecoveryCodesOut,
    responses={**GUARDED_RESPONSES, **CONFLICT},
)
def regenerate_recovery_codes(
    principal: MeSteppedUp, db: DbSession, response: Response
) -> RecoveryCodesOut:
    """Ten new recovery codes, shown this once; the old set stops working. 409 without
    a second factor."""
    codes = enrolment.regenerate_recovery_codes(db, principal)
    response.headers.update(NO_STORE)
    return RecoveryCodesOut(recovery_codes=codes)


@router.delete(
    "/me/factors/{id:uuid}", status_code=204, responses={**GUARDED_RESPONSES, **NOT_FOUND}
)
def remove_factor(id: uuid.UUID, principal: MeSteppedUp, db: DbSession) -> Response:
    """Remove one of your factors; with your last one go your recovery codes."""
    factors.remove(db, principal, id)
    return Response(status_code=204)


@router.post(
    "/users/{id}/factors/reset",
    response_model=FactorsReset,
    responses={**GUARDED_RESPONSES, **NOT_FOUND},
    tags=["users"],
)
def reset_factors(
    id: uuid.UUID, principal: UsersWriteSteppedUp, db: DbSession, effects: AppEffects
) -> FactorsReset:
    """Remove every second factor and recovery code of a user who lost theirs, and end
    the user's sessions and access tokens. Audited (`user.factors_reset`); the user is
    told by mail and enrols again at their next login."""
    return FactorsReset(factors_removed=factors.reset(db, effects, principal, id))
