"""Hosted pages: server-rendered HTML forms that work without JavaScript.

Every page is rendered through `page` (autoescaped Jinja2, headers that forbid framing,
caching, referrers and every asset from elsewhere) and every form carries a CSRF token
checked by `check_csrf`: a double-submit pair, a random value in a host-only,
SameSite=Strict cookie and its HMAC under the server's key in the form. A page of another
origin can make the browser post the form, but cannot read the cookie to compute the
field.
"""

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from backend.api.headers import FRAME_ANCESTORS_NONE, NO_STORE
from backend.domain.errors import DomainError

CSRF_COOKIE = "tessera_csrf"
CSRF_FIELD = "csrf_token"
ERROR_TEMPLATE = "sign_in_error.html"
_templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
# No script, no frame, no asset from anywhere; forms post only back here. The rest of
# the security headers (no referrer: page URLs carry one-time tokens) come from
# headers.py, as on every answer.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; form-action 'self'; {FRAME_ANCESTORS_NONE}; base-uri 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, **NO_STORE}


class CsrfError(DomainError):
    """A form came back without the token its page gave, or with another."""


def page(
    request: Request,
    key: bytes,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    *,
    redirects_to: str | None = None,
) -> HTMLResponse:
    """Render `template` with a fresh CSRF pair: the cookie, and `csrf_token` for the form.

    `redirects_to` is a (registered) URI the form's answer redirects to: browsers hold a
    form's redirects to `form-action` too, so its origin is allowed there."""
    nonce = secrets.token_urlsafe(32)
    headers = PAGE_HEADERS
    if redirects_to is not None:
        policy = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", f"form-action 'self' {_source(redirects_to)}"
        )
        headers = {**PAGE_HEADERS, "Content-Security-Policy": policy}
    response = _templates.TemplateResponse(
        request,
        template,
        {**context, "csrf_field": CSRF_FIELD, "csrf_token": _mac(key, nonce)},
        status_code=status,
        headers=headers,
    )
    response.set_cookie(
        CSRF_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


def error_page(request: Request, key: bytes, reason: str) -> HTMLResponse:
    """A sign-in error the browser must not be redirected with (an untrusted client or
    redirect URI): shown here, with no form."""
    return page(request, key, ERROR_TEMPLATE, {"reason": reason}, status=400)


def check_csrf(request: Request, key: bytes, presented: str | None) -> None:
    """Refuse a form whose CSRF field does not match its cookie (CsrfError, 403)."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or not presented or not hmac.compare_digest(_mac(key, nonce), presented):
        raise CsrfError("the form has expired or did not come from this site; reload the page")


def _source(uri: str) -> str:
    """The CSP source of a URI: its origin, or `scheme:` for a private-use scheme. The URI
    was registered (domain/clients.py), so it holds no space, quote or semicolon."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"


def _mac(key: bytes, nonce: str) -> str:
    return hmac.new(key, b"csrf:" + nonce.encode(), hashlib.sha256).hexdigest()
