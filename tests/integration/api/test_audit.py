"""The audit log over HTTP: reading it, and the events logins leave in it."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, Tenant, User, UserStatus
from backend.main import create_app
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, AuditEventFactory, TenantFactory, UserFactory

IssueToken = Callable[..., str]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Acme:
    tenant: Tenant
    auditor: User
    token: str


@pytest.fixture
def acme(db: Session, issue_token: IssueToken) -> Acme:
    tenant = TenantFactory(slug="acme")
    auditor = UserFactory(
        tenant=tenant, email="aud@acme.test", roles=[builtin_role(db, tenant, "auditor")]
    )
    db.commit()
    return Acme(tenant=tenant, auditor=auditor, token=issue_token(auditor, ["audit:read"]))


def read(client: TestClient, token: str, **params: object) -> httpx.Response:
    return client.get("/audit-events", headers=bearer(token), params=params)


# Reading


@pytest.fixture
def history(acme: Acme, db: Session) -> list[AuditEvent]:
    """Nine events a minute apart, two sharing their instant; newest first."""
    made = [
        AuditEventFactory(
            tenant=acme.tenant,
            at=T0 + timedelta(minutes=min(i, 7)),
            actor="user:1" if i % 2 else "system",
            action="user.disabled" if i < 4 else "user.enabled",
            target=f"user:{i % 3}",
            data={"n": i},
        )
        for i in range(9)
    ]
    db.commit()
    return sorted(made, key=lambda e: (e.at, e.id), reverse=True)


def walk(client: TestClient, token: str, **params: object) -> list[list[dict[str, object]]]:
    pages: list[list[dict[str, object]]] = []
    cursor = None
    while True:
        response = read(client, token, **params, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages


def test_pages_run_newest_first_over_every_event_once(
    client: TestClient, acme: Acme, history: list[AuditEvent]
) -> None:
    pages = walk(client, acme.token, limit=4)
    assert [len(p) for p in pages] == [4, 4, 1]
    assert [e["id"] for p in pages for e in p] == [str(e.id) for e in history]
    first = pages[0][0]
    assert set(first) == {
        "id", "at", "actor", "action", "target", "data", "request_id", "client_ip",
    }  # fmt: skip
    assert first["data"] == {"n": history[0].data["n"]}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"actor": "system"}, [8, 6, 4, 2, 0]),
        ({"action": "user.disabled"}, [3, 2, 1, 0]),
        ({"target": "user:1"}, [7, 4, 1]),
        ({"since": (T0 + timedelta(minutes=6)).isoformat()}, [8, 7, 6]),
        ({"until": (T0 + timedelta(minutes=2)).isoformat()}, [1, 0]),
        (
            {"actor": "user:1", "since": T0.isoformat(), "until": "2026-01-01T00:06:00Z"},
            [5, 3, 1],
        ),
    ],
    ids=["actor", "action", "target", "since", "until", "combined"],
)
def test_filters(
    client: TestClient,
    acme: Acme,
    history: list[AuditEvent],
    params: dict[str, object],
    expected: list[int],
) -> None:
    pages = walk(client, acme.token, limit=2, **params)
    found = [e["data"]["n"] for p in pages for e in p]  # type: ignore[index]
    # Events 7 and 8 share their instant; the id breaks the tie.
    assert sorted(found, reverse=True) == expected
    assert len(found) == len(set(found))


def test_only_the_principals_tenant_is_shown(
    client: TestClient, acme: Acme, history: list[AuditEvent], db: Session
) -> None:
    AuditEventFactory(tenant=TenantFactory(slug="other"), action="secret.thing")
    db.commit()
    actions = {e["action"] for p in walk(client, acme.token, limit=200) for e in p}
    assert "secret.thing" not in actions


def test_reading_needs_audit_read(client: TestClient, acme: Acme, issue_token: IssueToken) -> None:
    assert read(client, issue_token(acme.auditor, ["users:read"])).status_code == 403


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"limit": 201}, 422),
        ({"limit": 0}, 422),
        ({"since": "2026-01-01T00:00:00"}, 422),
        ({"cursor": "not-a-cursor!"}, 400),
        ({"cursor": "WyJ5ZXN0ZXJkYXkiLCAiMSJd"}, 400),
        ({"cursor": "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwiMSJd"}, 400),
    ],
    ids=["limit-too-big", "limit-zero", "naive-since", "garbage", "not-a-date", "naive-cursor"],
)
def test_bad_parameters(
    client: TestClient, acme: Acme, params: dict[str, object], status: int
) -> None:
    assert read(client, acme.token, **params).status_code == status


def test_no_route_can_change_the_log(settings: Settings) -> None:
    paths = create_app(settings).openapi()["paths"]
    audit_paths = {p: ops for p, ops in paths.items() if p.startswith("/audit")}
    assert audit_paths
    assert all(set(ops) == {"get"} for ops in audit_paths.values())


# Logins


def login(client: TestClient, username: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    return client.post(
        "/token", data={"grant_type": "password", "username": username, "password": password}
    )


def login_events(db: Session) -> list[AuditEvent]:
    db.expire_all()
    return list(
        db.scalars(
            select(AuditEvent).where(AuditEvent.action.like("auth.%")).order_by(AuditEvent.at)
        )
    )


def test_a_successful_login_is_audited(client: TestClient, acme: Acme, db: Session) -> None:
    response = login(client, "acme/aud@acme.test")
    assert response.status_code == 200
    [event] = login_events(db)
    assert event.action == "auth.login_succeeded"
    assert (event.actor, event.target) == (f"user:{acme.auditor.id}", f"user:{acme.auditor.id}")
    assert event.data == {"scope": response.json()["scope"]}
    assert event.request_id == response.headers["x-request-id"]
    assert event.client_ip == "testclient"


def test_failed_logins_are_audited_and_kept_though_the_request_fails(
    client: TestClient, acme: Acme, db: Session
) -> None:
    assert login(client, "acme/aud@acme.test", "wrong password!").status_code == 400
    assert login(client, "acme/nobody@acme.test").status_code == 400
    wrong, unknown = login_events(db)
    assert (wrong.action, wrong.actor, wrong.target) == (
        "auth.login_failed",
        "anonymous",
        f"user:{acme.auditor.id}",
    )
    assert wrong.data == {"reason": "wrong_password"}
    assert (unknown.target, unknown.data) == ("email:nobody@acme.test", {"reason": "unknown_user"})
    assert DEFAULT_PASSWORD not in str(unknown.data)


def test_an_attackers_long_email_is_cut_to_fit(client: TestClient, acme: Acme, db: Session) -> None:
    email = "x" * 380 + "@acme.test"
    assert login(client, f"acme/{email}").status_code == 400
    [event] = login_events(db)
    assert event.target == f"email:{email}"[:120]
    # Past the username's bound, the form itself is refused: no lookup, no event.
    refused = login(client, "acme/" + "x" * 5000 + "@acme.test")
    assert refused.json()["error"] == "invalid_request"
    assert len(login_events(db)) == 1


def test_locked_and_disabled_refusals_say_why_in_the_log(
    client: TestClient, acme: Acme, db: Session
) -> None:
    db.execute(
        update(User)
        .where(User.id == acme.auditor.id)
        .values(locked_until=datetime.now(UTC) + timedelta(minutes=5))
    )
    db.commit()
    assert login(client, "acme/aud@acme.test").status_code == 400
    db.execute(
        update(User)
        .where(User.id == acme.auditor.id)
        .values(locked_until=None, status=UserStatus.DISABLED)
    )
    db.commit()
    refused = login(client, "acme/aud@acme.test")
    assert refused.json()["error_description"] == "user is disabled"
    assert [e.data["reason"] for e in login_events(db)] == ["locked", "disabled"]


def test_an_unknown_tenant_leaves_no_trace(client: TestClient, acme: Acme, db: Session) -> None:
    assert login(client, "nowhere/aud@acme.test").status_code == 400
    assert login_events(db) == []
