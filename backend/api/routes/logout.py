"""OpenID Connect RP-initiated logout at /logout: ends the hosted sign-in's browser
session and sends the browser to a URI the client registered."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from backend.api.deps import AppRuntime, DbSession
from backend.api.hosted import CsrfError, check_csrf, error_page, page
from backend.api.schemas.sign_in import LogoutForm, LogoutQuery
from backend.domain import code_flow as rules
from backend.runtime import Runtime
from backend.security.id_tokens import IdTokenHintError
from backend.services import browser_sessions, clients, sessions

router = APIRouter(include_in_schema=False)
SIGNED_OUT = "signed_out.html"


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
    key = runtime.settings.signing_secret()
    client_id = query.client_id
    if client_id is None and query.id_token_hint:
        try:
            aud = runtime.issuers.id_tokens.read_hint(query.id_token_hint)["aud"]
        except IdTokenHintError as exc:
            return error_page(request, key, str(exc))
        client_id = aud if isinstance(aud, str) else None
    client = clients.by_client_id(db, client_id) if client_id else None
    if client is None or uri not in client.post_logout_redirect_uris:
        return error_page(request, key, "post_logout_redirect_uri is not one the client registered")
    return uri


def _hinted_user(runtime: Runtime, query: LogoutQuery) -> str | None:
    if not query.id_token_hint:
        return None
    try:
        return str(runtime.issuers.id_tokens.read_hint(query.id_token_hint)["sub"])
    except IdTokenHintError:
        return None


def _q(query: LogoutQuery) -> dict[str, Any]:
    return {
        "id_token_hint": query.id_token_hint or "",
        "post_logout_redirect_uri": query.post_logout_redirect_uri or "",
        "client_id": query.client_id or "",
        "state": query.state or "",
    }
