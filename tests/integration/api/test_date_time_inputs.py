"""Date-time inputs are bounded, and a stored one always reads back.

The issue's case: an expiry of `9999-12-31T23:59:59-14:00` (year 10000 in UTC) was
accepted, and from then on the user's grants, their GET /me and the revocation of the
grant all failed, leaving a grant that gave scopes and could not be taken back.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.db.models import ApiKey, Grant
from backend.domain.moments import MAX_EXPIRY_AHEAD
from tests.conftest import bearer
from tests.factories import ApiKeyFactory
from tests.support.grants import Granting, granting

IssueToken = Callable[..., str]
FAR_FUTURE = "9999-12-31T23:59:59-14:00"
# The latest expiry the database keeps (see db/base.py, readable_expiry).
LAST_STORABLE = datetime(9998, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.fixture
def acme(db: Session, issue_token: IssueToken) -> Granting:
    return granting(db, issue_token)


def put_grant(client: TestClient, acme: Granting, expires_at: object) -> httpx.Response:
    return client.put(
        f"/users/{acme.user.id}/roles/{acme.auditor.id}",
        headers=bearer(acme.owner_token),
        json={"expires_at": expires_at},
    )


def assert_grant_is_readable_and_revocable(client: TestClient, acme: Granting) -> None:
    listed = client.get(f"/users/{acme.user.id}/roles", headers=bearer(acme.owner_token))
    assert listed.status_code == 200, listed.text
    me = client.get("/me", headers=bearer(acme.user_token))
    assert me.status_code == 200, me.text
    assert "auditor" in me.json()["roles"]
    revoked = client.delete(
        f"/users/{acme.user.id}/roles/{acme.auditor.id}", headers=bearer(acme.owner_token)
    )
    assert revoked.status_code == 204, revoked.text


@pytest.mark.parametrize(
    "expires_at",
    [
        FAR_FUTURE,
        "9999-12-31T23:59:59Z",
        "9000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "2030-06-30T23:59:60Z",
        "2030-01-01T00:00:00",
        1900000000,
        "1900000000",
        "2030-01-01T00:00:00\x00Z",
    ],
    ids=[
        "year-10000-in-utc",
        "year-9999",
        "beyond-ten-years",
        "year-0-in-utc",
        "leap-second",
        "naive",
        "unix-number",
        "unix-string",
        "nul",
    ],
)
def test_an_expiry_out_of_range_is_refused_and_nothing_is_granted(
    client: TestClient, acme: Granting, db: Session, expires_at: object
) -> None:
    response = put_grant(client, acme, expires_at)
    assert response.status_code == 422, response.text
    db.expire_all()
    assert db.get(Grant, (acme.tenant.id, acme.user.id, acme.auditor.id)) is None


def test_beyond_the_horizon_the_refusal_says_why_in_the_error_shape(
    client: TestClient, acme: Granting
) -> None:
    response = put_grant(client, acme, "9000-01-01T00:00:00Z")
    assert response.json()["error"] == "invalid_request"
    assert "10 years" in response.json()["error_description"]


def test_an_expiry_at_the_horizon_is_granted_and_stays_readable(
    client: TestClient, acme: Granting
) -> None:
    at_horizon = datetime.now(UTC) + MAX_EXPIRY_AHEAD - timedelta(minutes=1)
    # In the furthest time zone: the offset must not matter, only the moment.
    response = put_grant(client, acme, at_horizon.strftime("%Y-%m-%dT%H:%M:%S") + "-00:00")
    assert response.status_code == 201, response.text
    assert datetime.fromisoformat(response.json()["expires_at"]) <= at_horizon
    assert_grant_is_readable_and_revocable(client, acme)


def test_a_stored_expiry_at_the_database_limit_reads_back(
    client: TestClient, acme: Granting, db: Session
) -> None:
    # Not the API's horizon: what an older version accepted, clamped by the migration.
    db.add(
        Grant(
            tenant_id=acme.tenant.id,
            user_id=acme.user.id,
            role_id=acme.auditor.id,
            expires_at=LAST_STORABLE,
        )
    )
    ApiKeyFactory(creator=acme.user, expires_at=LAST_STORABLE)
    db.commit()
    keys = client.get("/api-keys", headers=bearer(acme.owner_token))
    assert keys.status_code == 200, keys.text
    assert keys.json()[0]["expires_at"].startswith("9998-12-31T23:59:59")
    assert_grant_is_readable_and_revocable(client, acme)


@pytest.mark.parametrize("table", [Grant, ApiKey])
@pytest.mark.parametrize("expires_at", [FAR_FUTURE, "0001-01-01T00:00:00+14:00", "infinity"])
def test_the_database_refuses_an_expiry_it_could_not_read_back(
    acme: Granting, db: Session, table: type[Grant] | type[ApiKey], expires_at: str
) -> None:
    ApiKeyFactory(creator=acme.user)
    db.commit()
    # FAR_FUTURE is 10000-01-01 13:59:59 UTC once PostgreSQL has read it.
    with pytest.raises(IntegrityError, match="expires_at_readable"):
        db.execute(update(table).values(expires_at=expires_at))
    db.rollback()


@pytest.mark.parametrize(
    "body",
    [
        {"expires_at": FAR_FUTURE},
        {"expires_at": "9000-01-01T00:00:00Z"},
        {"expires_at": 1900000000},
    ],
    ids=["year-10000-in-utc", "beyond-ten-years", "unix-number"],
)
def test_an_api_key_expiry_is_bounded_too(
    client: TestClient, acme: Granting, db: Session, body: dict[str, object]
) -> None:
    response = client.post(
        "/api-keys",
        headers=bearer(acme.owner_token),
        json={"name": "ci", "scopes": ["me"], **body},
    )
    assert response.status_code == 422, response.text
    assert db.scalars(select(ApiKey)).all() == []


@pytest.mark.parametrize(
    ("since", "status"),
    [
        ("0001-01-01T00:00:00Z", 200),
        ("9999-12-31T23:59:59.999999Z", 200),
        # '+' unescaped in a query is a space: refused, with a hint, not misread.
        ("2030-01-01T00:00:00+02:00", 422),
        ("2030-01-01T00:00:00%2B02:00", 200),
        (FAR_FUTURE, 422),
        ("1900000000", 422),
        ("2030-01-01T00:00:00", 422),
    ],
)
def test_audit_filters_are_bounded_date_times(
    client: TestClient, acme: Granting, since: str, status: int
) -> None:
    response = client.get(f"/audit-events?since={since}", headers=bearer(acme.owner_token))
    assert response.status_code == status, response.text
    if "+02:00" in since:
        assert "%2B" in response.text
