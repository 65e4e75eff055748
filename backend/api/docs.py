"""The interactive docs (/docs, /redoc), served with their assets from this process.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, so they stay blank on a
network without internet access (an air-gapped deployment, CI, a laptop offline). The
fastapi-offline package ships the same assets (Swagger UI 5, which reads OpenAPI 3.1);
they are served here under /docs/static.

The Authorize dialog takes passwords, so the pages refuse to be framed (clickjacking)
and run only what they are known to run: a Content-Security-Policy naming this origin
and the SHA-256 of each inline script and style the page itself holds (computed from
the page as rendered, so an upgrade of FastAPI's templates needs no change here).
Styles are also allowed inline: Swagger UI and ReDoc set them from script.
"""

import base64
import hashlib
import re
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from backend.api.headers import FRAME_ANCESTORS_NONE

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
STATIC_URL = "/docs/static"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    """`page` with a CSP that lets it run its own inline script and nothing foreign."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(bytes(page.body).decode())
    )
    page.headers["Content-Security-Policy"] = "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {hashes}".strip(),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            # ReDoc runs its search in a worker made from a blob.
            "worker-src 'self' blob:",
            "base-uri 'none'",
            "form-action 'self'",
            FRAME_ANCESTORS_NONE,
        ]
    )
    return page


def install_docs(app: FastAPI) -> None:
    """Add /docs, its OAuth2 redirect page and /redoc; build the app with both URLs None."""
    assets = files("fastapi_offline") / "static"
    app.mount(STATIC_URL, StaticFiles(directory=str(assets)), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _with_policy(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{STATIC_URL}/swagger-ui.css",
                swagger_favicon_url=f"{STATIC_URL}/favicon.png",
                oauth2_redirect_url=OAUTH2_REDIRECT_URL,
                swagger_ui_parameters=app.swagger_ui_parameters,
            )
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return _with_policy(get_swagger_ui_oauth2_redirect_html())

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _with_policy(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{STATIC_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{STATIC_URL}/favicon.png",
                with_google_fonts=False,
            )
        )
