"""A time-bound grant lapses exactly: no access token outlives a scope it carries.

Real short waits (a grant a couple of seconds ahead), no mocked clock, and no sweep:
the lapse must hold through the tokens themselves.
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.db.models import Role
from backend.settings import Settings
from tests.conftest import bearer
from tests.factories import DEFAULT_PASSWORD, RoleFactory
from tests.support.grants import Granting, granting

IssueToken = Callable[..., str]
# Long enough for a grant, a login and a first request on a loaded machine (a scope
# lapsing within a token's first second is not granted at all), short enough to wait out.
LAPSE_SECONDS = 4


@pytest.fixture
def acme(db: Session, issue_token: IssueToken) -> Granting:
    return granting(db, issue_token)


def grant(client: TestClient, acme: Granting, role: Role, expires_at: datetime | None) -> None:
    response = client.put(
        f"/users/{acme.user.id}/roles/{role.id}",
        headers=bearer(acme.owner_token),
        json={"expires_at": None if expires_at is None else expires_at.isoformat()},
    )
    assert response.status_code in (200, 201), response.text


def login(client: TestClient, scope: str | None = None) -> dict[str, object]:
    form = {"grant_type": "password", "username": "acme/ann@acme.test"}
    form["password"] = DEFAULT_PASSWORD
    response = client.post("/token", data=form if scope is None else {**form, "scope": scope})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def refresh(client: TestClient, token: object) -> dict[str, object]:
    response = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": str(token)}
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def audit_log(client: TestClient, token: object) -> httpx.Response:
    return client.get("/audit-events", headers=bearer(str(token)))


def claims(settings: Settings, token: object) -> dict[str, int]:
    decoded: dict[str, int] = jwt.decode(
        str(token), settings.signing_secret(), algorithms=["HS256"], audience=settings.jwt_audience
    )
    return decoded


def wait_until(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.2)


def test_a_token_dies_when_a_grant_of_its_scopes_lapses(
    client: TestClient, acme: Granting, settings: Settings
) -> None:
    lapse = datetime.now(UTC) + timedelta(seconds=LAPSE_SECONDS)
    grant(client, acme, acme.auditor, lapse)
    issued = login(client)
    assert "audit:read" in str(issued["scope"]).split()
    # The token says so itself: its exp is the lapse, not the usual lifetime.
    token = claims(settings, issued["access_token"])
    assert token["exp"] <= lapse.timestamp()
    assert issued["expires_in"] == token["exp"] - token["iat"]
    assert audit_log(client, issued["access_token"]).status_code == 200

    wait_until(lapse)
    # No sweep has run: the grant row is still there, yet it grants nothing.
    refused = audit_log(client, issued["access_token"])
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"

    # The session survives; a refresh carries what the user still holds.
    renewed = refresh(client, issued["refresh_token"])
    assert "audit:read" not in str(renewed["scope"]).split()
    assert "me" in str(renewed["scope"]).split()
    assert renewed["expires_in"] == settings.access_token_ttl_seconds
    assert audit_log(client, renewed["access_token"]).status_code == 403
    me = client.get("/me", headers=bearer(str(renewed["access_token"])))
    assert me.status_code == 200
    assert me.json()["roles"] == ["member"]


def test_only_scopes_that_would_be_lost_cap_the_token(
    client: TestClient, acme: Granting, db: Session, settings: Settings
) -> None:
    # audit:read comes from the lapsing auditor grant and, for good, from `reader` too;
    # users:read from the auditor grant alone.
    reader = RoleFactory(tenant=acme.tenant, name="reader", scopes=["audit:read"])
    db.commit()
    grant(client, acme, reader, None)
    grant(client, acme, acme.auditor, datetime.now(UTC) + timedelta(seconds=60))
    assert login(client, "me audit:read")["expires_in"] == settings.access_token_ttl_seconds
    assert 50 < int(str(login(client, "me users:read")["expires_in"])) <= 60
    assert login(client, "me")["expires_in"] == settings.access_token_ttl_seconds


def test_a_lapse_brought_forward_cuts_off_tokens_issued_before(
    client: TestClient, acme: Granting
) -> None:
    grant(client, acme, acme.auditor, None)
    before = login(client)
    assert audit_log(client, before["access_token"]).status_code == 200
    # The token was issued for a grant that never lapsed: it carries no cap.
    grant(client, acme, acme.auditor, datetime.now(UTC) + timedelta(seconds=30))
    assert audit_log(client, before["access_token"]).status_code == 401
    after = refresh(client, before["refresh_token"])
    assert "audit:read" in str(after["scope"]).split()
    assert int(str(after["expires_in"])) <= 30
    assert audit_log(client, after["access_token"]).status_code == 200


def test_a_role_edit_that_hastens_a_lapse_cuts_off_tokens_issued_before(
    client: TestClient, acme: Granting, db: Session
) -> None:
    # audit:read: for good through `desk`, which includes auditor; and until the grant
    # of auditor itself lapses, an hour away.
    desk = RoleFactory(tenant=acme.tenant, name="desk", scopes=[], includes=[acme.auditor])
    db.commit()
    grant(client, acme, desk, None)
    grant(client, acme, acme.auditor, datetime.now(UTC) + timedelta(hours=1))
    before = login(client)
    assert audit_log(client, before["access_token"]).status_code == 200
    edited = client.patch(
        f"/roles/{desk.id}", headers=bearer(acme.owner_token), json={"includes": []}
    )
    assert edited.status_code == 200, edited.text
    # Nothing is lost yet, but the token would outlive the grant its scopes now hang on.
    assert audit_log(client, before["access_token"]).status_code == 401
