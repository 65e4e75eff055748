"""Signing in with a passkey alone on the hosted sign-in (the tenant's `passkey_login`),
and the script of the pages' passkey buttons (api/static/passkeys.js).

The sign-in page of such a tenant has a second form, posted here by its button with the
assertion navigator.credentials.get() gave (services/passkey_sign_in.py checks it); the
second-factor page's "Use a passkey" posts to /authorize/second-factor
(routes/sign_in.py).
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from backend.api import sign_in_pages as pages
from backend.api.deps import AppRuntime, DbSession
from backend.api.schemas.sign_in import PasskeySignInForm
from backend.services import passkey_sign_in

router = APIRouter(include_in_schema=False)
SCRIPT = (Path(__file__).parent.parent / "static" / "passkeys.js").read_bytes()


@router.post("/authorize/passkey", response_class=HTMLResponse)
def passkey_sign_in_step(
    request: Request,
    db: DbSession,
    runtime: AppRuntime,
    form: Annotated[PasskeySignInForm, Form()],
) -> Response:
    """A passkey alone, where the tenant allows it (`passkey_login`): the assertion the
    page's button made, checked with user verification, under the lockout and the
    user's standing as a password is; then the sign-in, with the key's `amr` and
    `mfa`. Any refusal is the sign-in form again, with its reason."""
    accepted = pages.accept(request, db, runtime, pages.params_of(form))
    if isinstance(accepted, Response):
        return accepted
    tenant, assertion = form.tenant or "", form.webauthn_assertion
    login = pages.first_step(
        request,
        db,
        runtime,
        form,
        lambda: passkey_sign_in.sign_in(
            db, runtime.relying_party, tenant, assertion, datetime.now(UTC)
        ),
    )
    if isinstance(login, Response):
        return login
    return pages.signed_in(request, db, runtime, accepted, login.verified, login.amr)


@router.get("/hosted/passkeys.js", include_in_schema=False)
def passkeys_script() -> Response:
    """The passkey buttons' script, from Tessera itself (the pages' CSP allows no other)."""
    return Response(
        SCRIPT,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=300"},
    )
