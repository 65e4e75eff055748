"""The hosted sign-in's second-factor pages in a real Chromium, without JavaScript of
their own (issue 19 items 4 and 5): enrolling a TOTP factor under `mfa: required` (a
wrong code first, the recovery codes, "continue"), and stepping a password session up
with `acr_values`. The redirect URI is answered by the test (Playwright's routing), which
then exchanges the code as the application would."""

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import jwt
import pyotp
import pytest
from playwright.sync_api import Page, Route
from sqlalchemy.orm import Session

from backend.db.models import Tenant
from backend.settings import Settings
from tests.browser.test_docs_authorize import RECORD_VIOLATIONS, csp_violations
from tests.factories import DEFAULT_PASSWORD
from tests.support.factors import secret_of
from tests.support.kit import start_tessera
from tests.support.live_server import LiveServer
from tests.support.sign_in import Pkce, ada_of_acme, authorize_params, query_of

pytestmark = pytest.mark.browser
CALLBACK = "http://127.0.0.1:5173/callback"


@pytest.fixture
def tessera(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    server = start_tessera(settings, tmp_path / "var", tmp_path / "tessera.log")
    yield server
    server.stop()


@pytest.fixture
def callbacks(page: Page) -> list[str]:
    """Every URL the browser is sent to at the redirect URI, answered with a blank page."""
    seen: list[str] = []

    def answer(route: Route) -> None:
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>back at the app</p>")

    page.route(f"{CALLBACK}*", answer)
    page.add_init_script(RECORD_VIOLATIONS)
    return seen


def set_policy(db: Session, tenant_id: object, **policy: object) -> None:
    tenant = db.get_one(Tenant, tenant_id)
    tenant.policy = {**tenant.policy, **policy}
    db.commit()


def amr_of(tessera: LiveServer, callback: str, pkce: Pkce) -> list[str]:
    tokens = httpx.post(
        f"{tessera.url}/token",
        data={
            "grant_type": "authorization_code",
            "code": query_of(callback)["code"],
            "redirect_uri": CALLBACK,
            "client_id": "spa",
            "code_verifier": pkce.verifier,
        },
    )
    assert tokens.status_code == 200, tokens.text
    claims = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})
    amr: list[str] = claims["amr"]
    return amr


def sign_in(page: Page, tessera: LiveServer, pkce: Pkce, **params: str) -> None:
    query = urlencode(authorize_params(pkce, tenant="acme", **params))
    page.goto(f"{tessera.url}/authorize?{query}")
    page.get_by_label("Email").fill("ada@acme.test")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_user_enrols_on_the_page_sees_the_codes_once_and_goes_on(
    page: Page,
    tessera: LiveServer,
    callbacks: list[str],
    db: Session,
    artifacts: Path,
) -> None:
    ada = ada_of_acme(db)
    set_policy(db, ada.tenant_id, mfa="required", mfa_grace_days=0)
    pkce = Pkce.new()
    sign_in(page, tessera, pkce)
    page.get_by_role("heading", name="Set up a second factor for Acme Corp").wait_for()
    assert page.locator("#qr svg").is_visible()
    assert page.get_by_role("button", name="Later").count() == 0
    uri = page.locator("#otpauth-uri").inner_text()
    page.screenshot(path=artifacts / "hosted-enrol.png")
    # A wrong code: the page again, at /authorize/enrol, with the same factor; its form
    # still posts where it should.
    page.get_by_label("Then type the code the app shows").fill("000000")
    # Each of Tessera's pages is checked before it is left: the next page records afresh.
    assert csp_violations(page) == []
    page.get_by_role("button", name="Turn it on").click()
    page.get_by_role("alert").wait_for()
    assert page.locator("#otpauth-uri").inner_text() == uri
    page.get_by_label("Then type the code the app shows").fill(pyotp.TOTP(secret_of(uri)).now())
    assert csp_violations(page) == []
    page.get_by_role("button", name="Turn it on").click()
    page.get_by_role("heading", name="Your second factor is on").wait_for()
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    assert all(re.fullmatch(r"[a-z0-9]{4}(-[a-z0-9]{4}){3}", c) for c in codes)
    assert csp_violations(page) == []
    page.get_by_role("button", name=re.compile("continue")).click()
    page.wait_for_url(f"{CALLBACK}*")
    assert len(callbacks) == 1
    assert amr_of(tessera, callbacks[0], pkce) == ["pwd", "otp", "mfa"]


def test_acr_values_steps_a_password_session_up_on_the_factor_page(
    page: Page,
    tessera: LiveServer,
    callbacks: list[str],
    db: Session,
    artifacts: Path,
) -> None:
    ada_of_acme(db)
    first = Pkce.new()
    sign_in(page, tessera, first)
    page.wait_for_url(f"{CALLBACK}*")
    assert amr_of(tessera, callbacks[-1], first) == ["pwd"]
    # Ada enrols an app over the API, with a token of that sign-in's password.
    token = httpx.post(
        f"{tessera.url}/token",
        data={
            "grant_type": "password",
            "username": "acme/ada@acme.test",
            "password": DEFAULT_PASSWORD,
            "scope": "me",
        },
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    started = httpx.post(f"{tessera.url}/me/factors/totp", headers=headers, json={})
    secret = secret_of(started.json()["otpauth_uri"])
    step = int(time.time()) // 30 - 1
    confirmed = httpx.post(
        f"{tessera.url}/me/factors/totp/confirm",
        headers=headers,
        json={"code": pyotp.TOTP(secret).at(step * 30)},
    )
    assert confirmed.status_code == 200, confirmed.text

    stepped = Pkce.new()
    query = urlencode(authorize_params(stepped, acr_values="urn:tessera:acr:mfa"))
    page.goto(f"{tessera.url}/authorize?{query}")
    page.get_by_role("heading", name="Confirm it is you at Acme Corp").wait_for()
    assert page.get_by_label("Password").count() == 0
    page.get_by_label("Code from your authenticator app").fill("000000")
    assert csp_violations(page) == []
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("alert").wait_for()
    page.screenshot(path=artifacts / "hosted-step-up.png")
    page.get_by_label("Code from your authenticator app").fill(
        pyotp.TOTP(secret).at((step + 2) * 30)
    )
    assert csp_violations(page) == []
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{CALLBACK}*")
    assert amr_of(tessera, callbacks[-1], stepped) == ["pwd", "otp", "mfa"]
