"""A new tenant's invited owner gets the invitation by mail, over real SMTP, whether an
operator created the tenant over POST /tenants or with `tessera create-tenant --invite`
(issue 19 item 6: invitations are mailed instead of only returned); an owner created
with a password is mailed a link to verify their address instead."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer
from tests.integration.cli.conftest import RunCli, run_cli  # noqa: F401 (a fixture)
from tests.support.mail import PUBLIC_BASE_URL, Mailbox, html_of, link_in, text_of, token_in
from tests.support.platform import OPERATOR_EMAIL, create_operator

OPERATOR_PASSWORD = "violet otters juggle lanterns"
OWNER_PASSWORD = "amber heron crosses rivers"
# An operator's text, as a tenant's name may be: markup and an ampersand.
TENANT_NAME = "Globex <i>&</i> Sons"


@pytest.fixture
def operator_token(client: TestClient, db: Session, effects: Effects, settings: Settings) -> str:
    create_operator(db, effects, settings, OPERATOR_PASSWORD)
    answer = client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": f"{settings.platform_tenant_slug}/{OPERATOR_EMAIL}",
            "password": OPERATOR_PASSWORD,
        },
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def create(client: TestClient, token: str, slug: str, email: str) -> dict[str, object]:
    answer = client.post(
        "/tenants",
        headers=bearer(token),
        json={"slug": slug, "name": TENANT_NAME, "owner": {"email": email, "invite": True}},
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, object] = answer.json()
    return body


def accepts(client: TestClient, token: str) -> bool:
    answer = client.post("/invitations/accept", json={"token": token, "password": OWNER_PASSWORD})
    return answer.status_code == 204


def test_an_operator_created_tenant_mails_its_owner_the_invitation(
    client: TestClient, operator_token: str, mailbox: Mailbox
) -> None:
    body = create(client, operator_token, "globex", "hank@globex.test")
    mail = mailbox.wait_for("hank@globex.test", "You are invited to")
    assert mail["Subject"] == f"You are invited to {TENANT_NAME}"
    owner = body["owner"]
    assert isinstance(owner, dict)
    assert link_in(mail) == (
        f"{PUBLIC_BASE_URL}/accept-invitation?token={owner['invitation']['token']}"
    )
    assert TENANT_NAME in text_of(mail)
    assert "Globex &lt;i&gt;&amp;&lt;/i&gt; Sons" in html_of(mail)
    assert accepts(client, token_in(mail))
    login = client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": "globex/hank@globex.test",
            "password": OWNER_PASSWORD,
        },
    )
    assert login.status_code == 200, login.text


def test_a_refused_creation_mails_nothing(
    client: TestClient, operator_token: str, mailbox: Mailbox
) -> None:
    create(client, operator_token, "globex", "first@globex.test")
    taken = client.post(
        "/tenants",
        headers=bearer(operator_token),
        json={"slug": "globex", "name": "X", "owner": {"email": "second@x.test", "invite": True}},
    )
    assert taken.status_code == 409
    # One worker takes the queue in order: once a later mail is in, an earlier one
    # would have been too.
    create(client, operator_token, "initech", "later@initech.test")
    mailbox.wait_for("later@initech.test", "You are invited to")
    assert mailbox.to("second@x.test") == []


def test_the_cli_invites_the_owner_by_mail_and_prints_no_token(
    run_cli: RunCli,  # noqa: F811 (the fixture imported above)
    client: TestClient,
    mailbox: Mailbox,
) -> None:
    result = run_cli(
        "create-tenant", "umbrella", "--name", TENANT_NAME, "--owner-email", "alice@umbrella.test",
        "--invite",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "invitation mailed to alice@umbrella.test" in result.stdout
    mail = mailbox.wait_for("alice@umbrella.test", "You are invited to")
    token = token_in(mail)
    assert token not in result.stdout + result.stderr
    assert accepts(client, token)


def test_the_cli_takes_a_password_or_an_invitation_not_both(run_cli: RunCli) -> None:  # noqa: F811
    result = run_cli(
        "create-tenant", "umbrella", "--name", "U", "--owner-email", "a@u.test",
        "--owner-password", OWNER_PASSWORD, "--invite",
    )  # fmt: skip
    assert result.returncode == 2
    assert "not allowed with argument" in result.stderr


def test_an_owner_created_with_a_password_is_mailed_a_verification_link(
    client: TestClient, operator_token: str, mailbox: Mailbox
) -> None:
    answer = client.post(
        "/tenants",
        headers=bearer(operator_token),
        json={
            "slug": "hooli",
            "name": TENANT_NAME,
            "owner": {"email": "gavin@hooli.test", "password": OWNER_PASSWORD},
        },
    )
    assert answer.status_code == 201, answer.text
    login = client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": "hooli/gavin@hooli.test",
            "password": OWNER_PASSWORD,
            "scope": "me",
        },
    )
    assert login.status_code == 200, login.text
    owner_token = login.json()["access_token"]
    assert client.get("/me", headers=bearer(owner_token)).json()["email_verified"] is False
    mail = mailbox.wait_for("gavin@hooli.test", "Confirm your email address")
    assert link_in(mail).startswith(f"{PUBLIC_BASE_URL}/verify-email?token=")
    # The verification link only: no invitation goes to an owner who has a password.
    assert [m["Subject"] for m in mailbox.to("gavin@hooli.test")] == [mail["Subject"]]
    confirmed = client.post("/email-verifications/confirm", json={"token": token_in(mail)})
    assert confirmed.status_code == 204, confirmed.text
    assert client.get("/me", headers=bearer(owner_token)).json()["email_verified"] is True
