"""The hosted invitation page: the same acceptance as POST /invitations/accept, as an
HTML form for the person who was sent the link (no JavaScript needed)."""

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from backend.api.deps import AppRuntime, DbSession
from backend.api.hosted import CSRF_FIELD, CsrfError, check_csrf, page
from backend.domain.errors import InvalidRequestError
from backend.domain.policy import WeakPasswordError
from backend.services import invitations

router = APIRouter(include_in_schema=False)
TEMPLATE = "invitation.html"


@router.get("/accept-invitation", response_class=HTMLResponse)
def invitation_page(
    request: Request,
    db: DbSession,
    runtime: AppRuntime,
    token: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """The form; the tenant's name is shown only for a token that can still be used."""
    key = runtime.settings.signing_secret()
    name = invitations.tenant_name(db, token)
    error = None if name is not None else invitations.INVALID
    return page(request, key, TEMPLATE, {"token": token, "tenant_name": name, "error": error})


@router.post("/accept-invitation", response_class=HTMLResponse)
def accept_on_page(
    request: Request,
    db: DbSession,
    runtime: AppRuntime,
    token: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str | None, Form(alias=CSRF_FIELD, max_length=200)] = None,
) -> HTMLResponse:
    """Set the password; a refusal shows the form again with the reason, announced."""
    key = runtime.settings.signing_secret()
    context = {"token": token, "tenant_name": invitations.tenant_name(db, token)}
    try:
        check_csrf(request, key, csrf_token)
        invitations.accept(db, runtime.passwords, token, password)
    except CsrfError as exc:
        return page(request, key, TEMPLATE, {**context, "error": str(exc)}, status=403)
    except (InvalidRequestError, WeakPasswordError) as exc:
        return page(request, key, TEMPLATE, {**context, "error": str(exc)}, status=400)
    return page(request, key, TEMPLATE, {**context, "done": True})
