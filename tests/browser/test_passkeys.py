"""Passkeys in a real Chromium with its virtual authenticator (DevTools protocol
`WebAuthn.addVirtualAuthenticator`), against a live Tessera (issue 19 items 2 and 9).

WebAuthn needs a secure context and a relying party id the page's host matches: the
browser opens Tessera as http://localhost:PORT (a secure context, as loopback is), with
TESSERA_WEBAUTHN_RP_ID=localhost and that origin. The authenticator holds discoverable
credentials and verifies its user, as a phone's or a laptop's does.

Enrolment runs navigator.credentials.create() on a Tessera page with the options of
POST /me/factors/webauthn; the hosted sign-in is clicked through as a person would (the
password then "Use a passkey"; "Sign in with a passkey" alone where the tenant allows
it, and no such button where it does not); the password grant's mfa_required completes
with an assertion navigator.credentials.get() made for POST /mfa/webauthn/options.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from playwright.sync_api import Page, Request, Route
from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.db.models import Tenant, User
from backend.settings import Settings
from tests.browser.test_docs_authorize import RECORD_VIOLATIONS, csp_violations
from tests.factories import DEFAULT_PASSWORD
from tests.support.kit import start_tessera
from tests.support.live_server import LiveServer, free_port
from tests.support.sign_in import REDIRECT_URI, Pkce, ada_of_acme, authorize_params, query_of

pytestmark = pytest.mark.browser
MFA_GRANT = "urn:tessera:params:oauth:grant-type:mfa"
# The browser's own JSON forms of WebAuthn (Level 3), so the server reads what a real
# client sends, not a copy of the test's.
CREATE = """async (options) => {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
    const credential = await navigator.credentials.create({publicKey});
    return credential.toJSON();
}"""
GET = """async (options) => {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    const credential = await navigator.credentials.get({publicKey});
    return JSON.stringify(credential.toJSON());
}"""


@pytest.fixture
def tessera(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    port = free_port()
    server = start_tessera(
        settings,
        tmp_path / "var",
        tmp_path / "tessera.log",
        port=port,
        TESSERA_PUBLIC_BASE_URL=f"http://localhost:{port}",
        TESSERA_WEBAUTHN_RP_ID="localhost",
    )
    yield server
    server.stop()


@pytest.fixture
def origin(tessera: LiveServer) -> str:
    return f"http://localhost:{tessera.port}"


@pytest.fixture
def ada(db: Session) -> User:
    user = ada_of_acme(db)
    db.commit()
    return user


@pytest.fixture
def authenticator(page: Page) -> str:
    """A platform authenticator in the page's browser: resident keys, user verified."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    authenticator_id: str = added["authenticatorId"]
    return authenticator_id


@pytest.fixture
def client_redirects(page: Page) -> list[str]:
    """Where the browser was sent back to the client: the app answers its redirect URI."""
    arrived: list[str] = []

    def answer(route: Route) -> None:
        arrived.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="signed in")

    page.route(f"{REDIRECT_URI}*", answer)
    return arrived


def back_at_the_client(request: Request) -> bool:
    """The browser's request for the redirect URI: the code is in it. Taken from the
    request rather than the route's answer, which Chromium at times bypasses for the
    navigation a 303 after a script's form submission starts."""
    return request.url.startswith(REDIRECT_URI)


def password_token(tessera: LiveServer) -> httpx.Response:
    return httpx.post(
        f"{tessera.url}/token",
        data={
            "grant_type": "password",
            "username": "acme/ada@acme.test",
            "password": DEFAULT_PASSWORD,
            "scope": "me",
        },
    )


def enrol(page: Page, tessera: LiveServer, origin: str) -> dict[str, Any]:
    """Ada adds a passkey: the options from the API, the ceremony on a Tessera page."""
    token = password_token(tessera).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    options = httpx.post(f"{tessera.url}/me/factors/webauthn", headers=headers, json={})
    assert options.status_code == 200, options.text
    page.goto(f"{origin}/health")
    credential = page.evaluate(CREATE, options.json())
    confirmed = httpx.post(
        f"{tessera.url}/me/factors/webauthn/confirm", headers=headers, json=credential
    )
    assert confirmed.status_code == 200, confirmed.text
    body: dict[str, Any] = confirmed.json()
    return body


def amr_of(tessera: LiveServer, redirected: str, pkce: Pkce) -> list[str]:
    tokens = httpx.post(
        f"{tessera.url}/token",
        data={
            "grant_type": "authorization_code",
            "code": query_of(redirected)["code"],
            "redirect_uri": REDIRECT_URI,
            "client_id": "spa",
            "code_verifier": pkce.verifier,
        },
    )
    assert tokens.status_code == 200, tokens.text
    claims = jwt.decode(tokens.json()["access_token"], options={"verify_signature": False})
    amr: list[str] = claims["amr"]
    return amr


def test_enrol_then_sign_in_with_password_and_passkey(
    page: Page,
    tessera: LiveServer,
    origin: str,
    ada: User,
    authenticator: str,
    client_redirects: list[str],
    artifacts: Path,
) -> None:
    enrolled = enrol(page, tessera, origin)
    assert len(enrolled["recovery_codes"]) == 10
    pkce = Pkce.new()
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(f"{origin}/authorize?{urlencode(authorize_params(pkce, tenant='acme'))}")
    page.get_by_label("Email").fill("ada@acme.test")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Confirm it is you at Acme Corp").wait_for()
    use_passkey = page.get_by_role("button", name="Use a passkey")
    use_passkey.wait_for()
    page.screenshot(path=artifacts / "hosted-second-factor-passkey.png")
    assert csp_violations(page) == []
    with page.expect_request(back_at_the_client) as sent:
        use_passkey.click()
    assert amr_of(tessera, sent.value.url, pkce) == ["pwd", "hwk", "mfa"]


def test_a_passkey_alone_where_the_tenant_allows_it_and_not_where_it_does_not(
    page: Page,
    tessera: LiveServer,
    origin: str,
    ada: User,
    db: Session,
    authenticator: str,
    client_redirects: list[str],
) -> None:
    enrol(page, tessera, origin)
    # Not allowed (the default): the page offers the password only.
    page.goto(f"{origin}/authorize?{urlencode(authorize_params(Pkce.new(), tenant='acme'))}")
    page.get_by_role("button", name="Sign in").wait_for()
    assert page.get_by_role("button", name="Sign in with a passkey").count() == 0
    db.execute(
        update(Tenant).where(Tenant.id == ada.tenant_id).values(policy={"passkey_login": True})
    )
    db.commit()
    pkce = Pkce.new()
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(f"{origin}/authorize?{urlencode(authorize_params(pkce, tenant='acme'))}")
    alone = page.get_by_role("button", name="Sign in with a passkey")
    alone.wait_for()
    assert csp_violations(page) == []
    with page.expect_request(back_at_the_client) as sent:
        alone.click()
    assert amr_of(tessera, sent.value.url, pkce) == ["hwk", "mfa"]


def test_the_mfa_grant_completes_with_a_passkey(
    page: Page, tessera: LiveServer, origin: str, ada: User, authenticator: str
) -> None:
    enrol(page, tessera, origin)
    challenged = password_token(tessera)
    assert challenged.json()["error"] == "mfa_required", challenged.text
    mfa_token = challenged.json()["mfa_token"]
    options = httpx.post(f"{tessera.url}/mfa/webauthn/options", json={"mfa_token": mfa_token})
    assert options.status_code == 200, options.text
    assertion = page.evaluate(GET, options.json())
    done = httpx.post(
        f"{tessera.url}/token",
        data={"grant_type": MFA_GRANT, "mfa_token": mfa_token, "webauthn_assertion": assertion},
    )
    assert done.status_code == 200, done.text
    claims = jwt.decode(done.json()["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "hwk", "mfa"]
    # The same assertion again: its challenge and its mfa_token are used.
    again = httpx.post(
        f"{tessera.url}/token",
        data={"grant_type": MFA_GRANT, "mfa_token": mfa_token, "webauthn_assertion": assertion},
    )
    assert again.status_code == 400, again.text
    assert json.loads(again.text)["error"] == "invalid_grant"
