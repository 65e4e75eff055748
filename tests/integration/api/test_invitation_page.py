"""The hosted invitation page: a form that works without JavaScript, with CSRF on it."""

import re
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.domain.scopes import TENANT_SCOPES
from tests.conftest import bearer, builtin_role
from tests.factories import TenantFactory, UserFactory

IssueToken = Callable[..., str]
PASSWORD = "amber heron crosses rivers"


@pytest.fixture
def invitation(client: TestClient, db: Session, issue_token: IssueToken) -> str:
    tenant = TenantFactory(slug="acme", name="Acme & Sons")
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    response = client.post(
        "/users",
        headers=bearer(issue_token(owner, sorted(TENANT_SCOPES))),
        json={"email": "kai@acme.test", "invite": True},
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["invitation"]["token"]
    return token


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert match, page.text
    return match.group(1)


def submit(
    client: TestClient, token: str, csrf: str | None, password: str = PASSWORD
) -> httpx.Response:
    form = {"token": token, "password": password}
    return client.post("/accept-invitation", data=form | ({"csrf_token": csrf} if csrf else {}))


def can_log_in(client: TestClient) -> bool:
    form = {"grant_type": "password", "username": "acme/kai@acme.test", "password": PASSWORD}
    return client.post("/token", data=form).status_code == 200


def test_the_page_names_the_tenant_and_keeps_every_asset_and_frame_out(
    client: TestClient, invitation: str
) -> None:
    page = client.get("/accept-invitation", params={"token": invitation})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Acme &amp; Sons" in page.text  # autoescaped
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "<script" not in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no asset from anywhere
    assert '<label for="password">' in page.text
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Domain=" not in cookie


def test_the_form_sets_the_password_once(client: TestClient, invitation: str) -> None:
    page = client.get("/accept-invitation", params={"token": invitation})
    done = submit(client, invitation, csrf_of(page))
    assert done.status_code == 200, done.text
    assert 'role="status"' in done.text
    assert can_log_in(client)
    reloaded = client.get("/accept-invitation", params={"token": invitation})
    assert "invalid, expired or already used" in reloaded.text
    again = submit(client, invitation, csrf_of(reloaded))
    assert again.status_code == 400
    assert 'role="alert"' in again.text
    assert "invalid, expired or already used" in again.text


@pytest.mark.parametrize("forged", [None, "0" * 64, "not-hex"], ids=["missing", "wrong", "junk"])
def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, invitation: str, forged: str | None
) -> None:
    client.get("/accept-invitation", params={"token": invitation})
    refused = submit(client, invitation, forged)
    assert refused.status_code == 403
    assert "did not come from this site" in refused.text
    assert not can_log_in(client)


def test_a_csrf_token_without_its_cookie_is_refused(client: TestClient, invitation: str) -> None:
    """What a cross-site post carries: the field copied from a page, but not the cookie."""
    csrf = csrf_of(client.get("/accept-invitation", params={"token": invitation}))
    client.cookies.clear()
    assert submit(client, invitation, csrf).status_code == 403
    assert not can_log_in(client)


def test_a_weak_password_is_refused_with_the_reason_announced(
    client: TestClient, invitation: str
) -> None:
    page = client.get("/accept-invitation", params={"token": invitation})
    refused = submit(client, invitation, csrf_of(page), password="short")
    assert refused.status_code == 400
    assert 'role="alert"' in refused.text
    assert 'aria-describedby="form-error"' in refused.text
    assert "at least 12 characters" in refused.text
    done = submit(client, invitation, csrf_of(refused))
    assert done.status_code == 200


@pytest.mark.parametrize(
    "token", ["", "iv_junk", "nul\x00token", "x" * 200, "<script>alert(1)</script>"]
)
def test_a_bad_token_shows_the_same_refusal_and_no_tenant(
    client: TestClient, invitation: str, token: str
) -> None:
    page = client.get("/accept-invitation", params={"token": token})
    assert page.status_code == 200
    assert "invalid, expired or already used" in page.text
    assert "Acme" not in page.text
    assert "<script>alert" not in page.text
    refused = submit(client, token, csrf_of(page))
    assert refused.status_code == 400


def test_a_token_that_is_not_utf8_is_refused_too(client: TestClient, invitation: str) -> None:
    page = client.get("/accept-invitation?token=%ED%A0%80%FF")
    assert page.status_code == 200
    assert "invalid, expired or already used" in page.text
    refused = client.post(
        "/accept-invitation",
        content=f"token=%ED%A0%80&password=x&csrf_token={csrf_of(page)}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert refused.status_code == 400
