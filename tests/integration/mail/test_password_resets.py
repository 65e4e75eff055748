"""Password reset end to end: the request, the mail through real SMTP, the confirmation."""

import re
import uuid
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, LoginSession, User
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, LoginSessionFactory, TenantFactory, UserFactory
from tests.support.concurrency import all_at_once
from tests.support.factors import enrol_totp
from tests.support.mail import PUBLIC_BASE_URL, Mailbox, link_in, token_in

IssueToken = Callable[..., str]
NEW_PASSWORD = "violet otters paddle upstream"
SUBJECT = "Reset your Acme password"
ACCEPTED = {
    "status": "accepted",
    "detail": "if the account exists, a mail with a reset link is on its way",
}


@pytest.fixture
def user(db: Session) -> User:
    tenant = TenantFactory(slug="acme", name="Acme")
    member = UserFactory(
        tenant=tenant,
        email=f"kai-{uuid.uuid4().hex[:8]}@acme.test",
        roles=[builtin_role(db, tenant, "member")],
    )
    db.commit()
    return member


def ask(client: TestClient, email: str, tenant: str = "acme") -> httpx.Response:
    return client.post("/password-resets", json={"tenant": tenant, "email": email})


def confirm(
    client: TestClient, token: str, password: str = NEW_PASSWORD, **factor: str
) -> httpx.Response:
    return client.post(
        "/password-resets/confirm", json={"token": token, "new_password": password, **factor}
    )


def reset_token(client: TestClient, mailbox: Mailbox, user: User) -> str:
    before = len(mailbox.to(user.email))
    assert ask(client, user.email).status_code == 202
    while True:
        mails = [m for m in mailbox.to(user.email) if SUBJECT in str(m["Subject"])]
        if len(mails) > before:
            return token_in(mails[-1])
        mailbox.wait_for(user.email, SUBJECT)


def logs_in(client: TestClient, user: User, password: str) -> bool:
    form = {"grant_type": "password", "username": f"acme/{user.email}", "password": password}
    return client.post("/token", data=form).status_code == 200


def test_the_answer_is_the_same_for_every_email_and_tenant(
    client: TestClient, user: User, mailbox: Mailbox
) -> None:
    answers = [
        ask(client, user.email),
        ask(client, user.email.upper()),
        ask(client, "nobody@acme.test"),
        ask(client, user.email, tenant="no-such-tenant"),
    ]
    assert {a.status_code for a in answers} == {202}
    assert all(a.json() == ACCEPTED for a in answers)
    assert len({tuple(sorted(a.headers.keys())) for a in answers}) == 1
    mail = mailbox.wait_for(user.email, SUBJECT)
    assert link_in(mail).startswith(f"{PUBLIC_BASE_URL}/reset-password?token=pr_")
    assert "15 minutes" in mail.as_string()


def test_a_reset_sets_the_password_and_cuts_every_session_off(
    client: TestClient, user: User, mailbox: Mailbox, issue_token: IssueToken, db: Session
) -> None:
    LoginSessionFactory(user=user)
    db.commit()
    access = issue_token(user, ["me"])
    token = reset_token(client, mailbox, user)
    response = confirm(client, token)
    assert response.status_code == 204, response.text
    assert not logs_in(client, user, DEFAULT_PASSWORD)
    assert logs_in(client, user, NEW_PASSWORD)
    assert client.get("/me", headers=bearer(access)).status_code == 401
    db.expire_all()
    reasons = db.scalars(select(LoginSession.revoked_reason)).all()
    assert "password_reset" in reasons
    actions = db.scalars(select(AuditEvent.action)).all()
    assert "user.password_reset_requested" in actions
    assert "user.password_reset" in actions
    # The mail reached the user: the address counts as verified.
    assert db.get_one(User, (user.tenant_id, user.id)).email_verified_at is not None
    assert confirm(client, token, "another fine passphrase").status_code == 400


def test_a_newer_reset_kills_the_older_link(
    client: TestClient, user: User, mailbox: Mailbox
) -> None:
    first = reset_token(client, mailbox, user)
    second = reset_token(client, mailbox, user)
    assert first != second
    assert confirm(client, first).status_code == 400
    assert confirm(client, second).status_code == 204


def test_a_password_change_kills_the_link(
    client: TestClient, user: User, mailbox: Mailbox, issue_token: IssueToken
) -> None:
    token = reset_token(client, mailbox, user)
    changed = client.patch(
        "/me/password",
        headers=bearer(issue_token(user, ["me"])),
        json={"current_password": DEFAULT_PASSWORD, "new_password": "saffron kites over dunes"},
    )
    assert changed.status_code == 204, changed.text
    refused = confirm(client, token)
    assert refused.status_code == 400
    assert refused.json()["error_description"] == "the link is invalid, expired or already used"


def test_a_weak_password_is_refused_and_the_link_stays_usable(
    client: TestClient, user: User, mailbox: Mailbox
) -> None:
    token = reset_token(client, mailbox, user)
    weak = confirm(client, token, "password")
    assert weak.status_code == 422
    assert confirm(client, token).status_code == 204


def test_two_confirmations_racing_with_one_link_succeed_once(
    client: TestClient, user: User, mailbox: Mailbox
) -> None:
    token = reset_token(client, mailbox, user)
    answers = all_at_once(2, lambda: confirm(client, token).status_code)
    assert sorted(answers) == [204, 400]


def test_a_reset_never_bypasses_the_second_factor(
    client: TestClient, user: User, mailbox: Mailbox, issue_token: IssueToken, db: Session
) -> None:
    enrolled = enrol_totp(client, issue_token(user, ["me"]))
    token = reset_token(client, mailbox, user)
    missing = confirm(client, token)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_grant"
    wrong = confirm(client, token, otp=enrolled.wrong_code())
    assert wrong.status_code == 400
    db.expire_all()
    assert db.get_one(User, (user.tenant_id, user.id)).failed_logins == 1
    assert confirm(client, token, otp=enrolled.next_code()).status_code == 204


def test_a_recovery_code_used_is_mailed_to_the_user(
    client: TestClient, user: User, mailbox: Mailbox, issue_token: IssueToken
) -> None:
    enrolled = enrol_totp(client, issue_token(user, ["me"]))
    token = reset_token(client, mailbox, user)
    assert confirm(client, token, recovery_code=enrolled.recovery_codes[0]).status_code == 204
    notice = mailbox.wait_for(user.email, "A recovery code was used")
    assert "9 unused recovery codes are left" in notice.as_string()


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert match, page.text
    return match.group(1)


def test_the_hosted_page_sets_the_password_with_csrf(
    client: TestClient, user: User, mailbox: Mailbox
) -> None:
    token = reset_token(client, mailbox, user)
    page = client.get("/reset-password", params={"token": token})
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "Choose a new password for Acme" in page.text
    form = {"token": token, "password": NEW_PASSWORD}
    forged = client.post("/reset-password", data=form)
    assert forged.status_code == 403
    assert logs_in(client, user, DEFAULT_PASSWORD)
    # The refusal is the form again, with a fresh CSRF pair.
    done = client.post("/reset-password", data={**form, "csrf_token": csrf_of(forged)})
    assert done.status_code == 200, done.text
    assert "Your password is set" in done.text
    assert logs_in(client, user, NEW_PASSWORD)


def test_the_hosted_page_shows_nothing_for_a_bad_link(client: TestClient) -> None:
    page = client.get("/reset-password", params={"token": "pr_" + "0" * 32 + "_" + "A" * 43})
    assert page.status_code == 200
    assert "the link is invalid, expired or already used" in page.text
    assert "<form" not in page.text
