"""Mails over real SMTP: invitations and email verification, from the request's commit
through a real worker to an SMTP server on 127.0.0.1."""

import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.db.models import User
from backend.domain.scopes import TENANT_SCOPES
from tests.conftest import bearer, builtin_role
from tests.factories import TenantFactory, UserFactory
from tests.support.mail import PUBLIC_BASE_URL, Mailbox, html_of, link_in, text_of, token_in

IssueToken = Callable[..., str]
PASSWORD = "amber heron crosses rivers"
# An admin's text, as a tenant's name may be: markup and an ampersand.
TENANT_NAME = "Acme <b>&</b> Co"


@pytest.fixture
def owner(db: Session) -> User:
    tenant = TenantFactory(slug="acme", name=TENANT_NAME)
    user = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    return user


@pytest.fixture
def admin_token(owner: User, issue_token: IssueToken) -> str:
    return issue_token(owner, sorted(TENANT_SCOPES))


def new_email() -> str:
    return f"u-{uuid.uuid4().hex[:10]}@acme.test"


def test_an_invitation_is_mailed_with_the_token_the_answer_holds(
    client: TestClient, admin_token: str, mailbox: Mailbox
) -> None:
    address = new_email()
    response = client.post(
        "/users", headers=bearer(admin_token), json={"email": address, "invite": True}
    )
    assert response.status_code == 201, response.text
    mail = mailbox.wait_for(address, "You are invited to")
    assert mail["Subject"] == f"You are invited to {TENANT_NAME}"
    assert link_in(mail) == (
        f"{PUBLIC_BASE_URL}/accept-invitation?token={response.json()['invitation']['token']}"
    )
    # The text part shows the name as it is; the HTML part escapes it.
    assert TENANT_NAME in text_of(mail)
    html = html_of(mail)
    assert "Acme &lt;b&gt;&amp;&lt;/b&gt; Co" in html
    assert "<b>&</b>" not in html
    accepted = client.post(
        "/invitations/accept", json={"token": token_in(mail), "password": PASSWORD}
    )
    assert accepted.status_code == 204, accepted.text


def test_the_host_header_cannot_move_the_link(
    client: TestClient, admin_token: str, mailbox: Mailbox
) -> None:
    address = new_email()
    response = client.post(
        "/users",
        headers={**bearer(admin_token), "Host": "evil.example", "X-Forwarded-Host": "evil.example"},
        json={"email": address, "invite": True},
    )
    assert response.status_code == 201, response.text
    mail = mailbox.wait_for(address, "You are invited to")
    assert link_in(mail).startswith(f"{PUBLIC_BASE_URL}/accept-invitation?token=")
    assert "evil.example" not in mail.as_string()


def test_a_rolled_back_request_mails_nothing(
    client: TestClient, admin_token: str, owner: User, mailbox: Mailbox
) -> None:
    taken = client.post(
        "/users", headers=bearer(admin_token), json={"email": owner.email, "invite": True}
    )
    assert taken.status_code == 409
    # One worker takes the queue in order: once a later mail is in, an earlier one
    # would have been too.
    later = new_email()
    created = client.post(
        "/users", headers=bearer(admin_token), json={"email": later, "invite": True}
    )
    assert created.status_code == 201
    mailbox.wait_for(later, "You are invited to")
    assert mailbox.to(owner.email) == []


def test_a_new_user_verifies_their_email_once(
    client: TestClient,
    admin_token: str,
    owner: User,
    issue_token: IssueToken,
    db: Session,
    mailbox: Mailbox,
) -> None:
    address = new_email()
    created = client.post(
        "/users", headers=bearer(admin_token), json={"email": address, "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    user = db.get_one(User, (owner.tenant_id, uuid.UUID(created.json()["id"])))
    me = client.get("/me", headers=bearer(issue_token(user, ["me"])))
    assert me.json()["email_verified"] is False
    mail = mailbox.wait_for(address, "Confirm your email address")
    assert link_in(mail).startswith(f"{PUBLIC_BASE_URL}/verify-email?token=")
    token = token_in(mail)
    first = client.post("/email-verifications/confirm", json={"token": token})
    assert first.status_code == 204, first.text
    assert client.get("/me", headers=bearer(issue_token(user, ["me"]))).json()["email_verified"]
    again = client.post("/email-verifications/confirm", json={"token": token})
    assert again.status_code == 400
    assert again.json()["error_description"] == "the link is invalid, expired or already used"


def test_an_email_change_needs_verifying_again_and_kills_the_old_link(
    client: TestClient, admin_token: str, owner: User, db: Session, mailbox: Mailbox
) -> None:
    address, changed = new_email(), new_email()
    created = client.post(
        "/users", headers=bearer(admin_token), json={"email": address, "password": PASSWORD}
    )
    user_id = created.json()["id"]
    old_token = token_in(mailbox.wait_for(address, "Confirm your email address"))
    patched = client.patch(
        f"/users/{user_id}", headers=bearer(admin_token), json={"email": changed}
    )
    assert patched.status_code == 200, patched.text
    new_token = token_in(mailbox.wait_for(changed, "Confirm your email address"))
    refused = client.post("/email-verifications/confirm", json={"token": old_token})
    assert refused.status_code == 400
    assert client.post("/email-verifications/confirm", json={"token": new_token}).status_code == 204
    db.expire_all()
    user = db.get_one(User, (owner.tenant_id, uuid.UUID(user_id)))
    assert user.email == changed
    assert user.email_verified_at is not None


def test_the_worker_never_logs_a_token(
    client: TestClient, admin_token: str, mailbox: Mailbox, mail_worker: tuple[object, object]
) -> None:
    address = new_email()
    response = client.post(
        "/users", headers=bearer(admin_token), json={"email": address, "invite": True}
    )
    token = response.json()["invitation"]["token"]
    mailbox.wait_for(address, "You are invited to")
    log = (mailbox.sink.directory.parent / "worker.log").read_text(errors="replace")
    assert "tessera.mail.send" in log
    assert token not in log
    assert address not in log
