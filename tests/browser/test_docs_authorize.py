"""The docs' Authorize button, as a person uses it, in a real Chromium.

/docs is opened from a live server, the OAuth2 password form gets `tenant-slug/email`,
the password and a chosen set of scopes, and GET /me is called with "Try it out":
200 with `me` among the scopes, 403 without it. Every asset the page loads comes from
the server itself: the docs work without internet access. Both docs pages work under
their Content-Security-Policy: the browser reports no violation of it.
"""

from pathlib import Path
from urllib.parse import parse_qs

import pytest
from playwright.sync_api import Page
from sqlalchemy.orm import Session

from tests.conftest import builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.browser

SCHEME = "OAuth2PasswordBearer"
GET_ME = "#operations-me-me_get"


# Run in the page before its own scripts: every CSP violation the browser reports.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def csp_violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.__violations")
    return found


def authorize(page: Page, username: str, scopes: list[str]) -> None:
    """Fill the OAuth2 password form of the Authorize dialog, submit it, close it.

    Exactly `scopes` end up checked: the dialog keeps earlier choices after a logout.
    """
    page.click("button.authorize")
    dialog = page.locator(".modal-ux")
    logout = dialog.locator("button", has_text="Logout")
    if logout.count():
        logout.first.click()
    page.fill("#oauth_username", username)
    page.fill("#oauth_password", DEFAULT_PASSWORD)
    for box in dialog.locator(f'input[type="checkbox"][id$="-password-checkbox-{SCHEME}"]').all():
        scope = box.get_attribute("data-value")
        if box.is_checked() != (scope in scopes):
            page.click(f'label[for="{scope}-password-checkbox-{SCHEME}"]')
    dialog.get_by_role("button", name="Apply given OAuth2 credentials").click()
    # Swagger UI swaps the form for a Logout button once /token has answered 200.
    logout.first.wait_for()
    dialog.locator("button.btn-done").first.click()


def call_get_me(page: Page) -> str:
    """Execute GET /me from its "Try it out" panel; the status code it shows."""
    operation = page.locator(GET_ME)
    if not operation.locator("button.execute").count():
        operation.locator(".opblock-summary").click()
        operation.locator("button.try-out__btn").click()
    clear = operation.locator("button.btn-clear")
    if clear.count():
        clear.click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status")
    status.wait_for()
    return status.inner_text().strip().split()[0]


def test_authorize_then_get_me_with_and_without_the_me_scope(
    page: Page, live_api: LiveServer, db: Session, artifacts: Path
) -> None:
    tenant = TenantFactory(slug="acme")
    UserFactory(tenant=tenant, email="ada@acme.test", roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    requested: list[str] = []
    token_forms: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on(
        "request",
        lambda request: (
            token_forms.append(request.post_data or "") if request.url.endswith("/token") else None
        ),
    )

    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(f"{live_api.url}/docs")
    page.wait_for_selector(".swagger-ui .info .title")

    authorize(page, "acme/ada@acme.test", ["me", "users:read"])
    assert call_get_me(page) == "200"
    page.locator(GET_ME).screenshot(path=artifacts / "docs-get-me-200.png")

    authorize(page, "acme/ada@acme.test", ["users:read"])
    assert call_get_me(page) == "403"
    page.screenshot(path=artifacts / "docs-get-me-403.png", full_page=False)

    asked = [set(parse_qs(form)["scope"][0].split()) for form in token_forms]
    assert asked == [{"me", "users:read"}, {"users:read"}]
    outside = [url for url in requested if not url.startswith(live_api.url)]
    assert not outside, f"the docs loaded from outside the server: {outside}"
    assert f"{live_api.url}/token" in requested
    assert csp_violations(page) == []


def test_redoc_renders_under_its_policy(page: Page, live_api: LiveServer) -> None:
    page.add_init_script(RECORD_VIOLATIONS)
    answer = page.goto(f"{live_api.url}/redoc")
    assert answer is not None
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    page.locator("h2", has_text="Issue tokens").first.wait_for()
    # ReDoc's sidebar credit always loads its logo from Redocly's CDN: refused on purpose
    # (the docs load nothing from outside), and ReDoc drops the image when it fails.
    credit = "img-src https://cdn.redoc.ly/redoc/logo-mini.svg"
    assert [found for found in csp_violations(page) if found != credit] == []
