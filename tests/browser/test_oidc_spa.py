"""A single-page app on another origin signs in to Tessera with oidc-client-ts, in a real
Chromium (issue 18, item 7).

The SPA (tests/browser/fixtures/oidc_spa, oidc-client-ts vendored from npm, nothing from
a CDN) is served from its own port on 127.0.0.1; Tessera runs as its own uvicorn process
with EdDSA and its URL as issuer. The person signs in on the hosted page (screenshot kept
under tests/artifacts/), the test calls GET /me with the token the page holds, a reload
signs in silently through the browser session (prompt=none, no form), and signing out
ends that session.
"""

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Response
from sqlalchemy.orm import Session

from backend.settings import Settings
from tests.browser.test_docs_authorize import RECORD_VIOLATIONS, csp_violations
from tests.factories import DEFAULT_PASSWORD
from tests.support.kit import start_tessera
from tests.support.live_server import HOST, LiveServer, free_port
from tests.support.sign_in import ada_of_acme

pytestmark = pytest.mark.browser
SPA_FILES = Path(__file__).parent / "fixtures" / "oidc_spa"


class _SpaHandler(SimpleHTTPRequestHandler):
    tessera_url = ""

    def do_GET(self) -> None:
        if self.path == "/config.js":
            body = f"window.TESSERA = {self.tessera_url!r};\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        # Every path of the app is its page (the redirect URI is "/").
        if self.path.startswith("/?") or self.path == "/":
            self.path = "/index.html"
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test's output is the browser's."""


@pytest.fixture
def tessera(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    server = start_tessera(settings, tmp_path / "var", tmp_path / "tessera.log")
    yield server
    server.stop()


@pytest.fixture
def spa(tessera: LiveServer) -> Iterator[str]:
    handler = type("Handler", (_SpaHandler,), {"tessera_url": tessera.url})
    server = ThreadingHTTPServer((HOST, free_port()), partial(handler, directory=str(SPA_FILES)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_oidc_client_ts_signs_in_reloads_silently_and_signs_out(
    page: Page, tessera: LiveServer, spa: str, db: Session, artifacts: Path
) -> None:
    ada_of_acme(db, redirect_uris=[f"{spa}/"], origins=[spa], logout_uris=[f"{spa}/"])
    forms: list[str] = []

    def count_forms(response: Response) -> None:
        if response.url.startswith(f"{tessera.url}/authorize") and response.status == 200:
            forms.append(response.url)

    page.on("response", count_forms)
    page.add_init_script(RECORD_VIOLATIONS)
    status = page.locator("#status")

    # First visit: the silent attempt finds no session and comes back login_required.
    page.goto(f"{spa}/")
    status.filter(has_text="signed out").wait_for()
    assert "login_required" in status.inner_text()

    page.click("#sign-in")
    page.wait_for_url(f"{tessera.url}/authorize*")
    page.get_by_role("heading", name="Sign in to Acme Corp").wait_for()
    page.screenshot(path=artifacts / "hosted-sign-in.png")
    assert csp_violations(page) == []
    page.get_by_label("Email").fill("ada@acme.test")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    status.filter(has_text="signed in as ada@acme.test").wait_for()
    # The name came from GET /userinfo, called by the page across origins (CORS).
    assert page.locator("#name").inner_text() == "Ada Lovelace"
    first_token = page.locator("#token").inner_text()
    me = httpx.get(f"{tessera.url}/me", headers={"Authorization": f"Bearer {first_token}"})
    assert me.status_code == 200
    assert me.json()["email"] == "ada@acme.test"
    assert len(forms) == 1

    # The app keeps the user in memory only: after a reload the session signs in.
    page.reload()
    status.filter(has_text="signed in as ada@acme.test").wait_for()
    assert page.locator("#token").inner_text() != first_token
    assert len(forms) == 1, "the reload showed the sign-in form"

    page.click("#sign-out")
    page.wait_for_url(f"{spa}/*")
    status.filter(has_text="signed out").wait_for()
    assert "login_required" in status.inner_text()
    assert len(forms) == 1
