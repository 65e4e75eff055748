"""User administration over HTTP: list, create, edit, disable, enable and delete."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, Grant, Tenant, User, UserStatus
from backend.domain.scopes import TENANT_SCOPES
from tests.conftest import bearer, builtin_role, random_id
from tests.factories import (
    DEFAULT_PASSWORD,
    LoginSessionFactory,
    RefreshTokenFactory,
    RoleFactory,
    TenantFactory,
    UserFactory,
)
from tests.support.cursors import raw_cursor

IssueToken = Callable[..., str]
GOOD_PASSWORD = "violet tapir juggles lanterns"


@dataclass(frozen=True)
class Acme:
    tenant: Tenant
    owner: User
    token: str


@pytest.fixture
def acme(db: Session, issue_token: IssueToken) -> Acme:
    tenant = TenantFactory(slug="acme")
    owner = UserFactory(
        tenant=tenant, email="owner@acme.test", roles=[builtin_role(db, tenant, "owner")]
    )
    db.commit()
    return Acme(tenant=tenant, owner=owner, token=issue_token(owner, sorted(TENANT_SCOPES)))


def login(client: TestClient, email: str, password: str) -> httpx.Response:
    return client.post(
        "/token",
        data={"grant_type": "password", "username": f"acme/{email}", "password": password},
    )


def events(db: Session, action: str, user_id: object) -> list[AuditEvent]:
    db.expire_all()
    return list(
        db.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == action, AuditEvent.target == f"user:{user_id}")
            .order_by(AuditEvent.at)
        )
    )


def reload(db: Session, user_id: object) -> User:
    db.expire_all()
    return db.scalars(select(User).where(User.id == user_id)).one()


# Creating


def test_create_with_a_password_makes_a_member_who_can_log_in(
    client: TestClient, acme: Acme, db: Session
) -> None:
    response = client.post(
        "/users",
        headers=bearer(acme.token),
        json={"email": " Ann@Acme.test ", "full_name": "Ann", "password": GOOD_PASSWORD},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "Ann@Acme.test"
    assert (body["status"], body["password_set"], body["deleted"]) == ("active", True, False)
    assert body["invitation"] is None
    token = login(client, "ann@acme.test", GOOD_PASSWORD).json()["access_token"]
    me = client.get("/me", headers=bearer(token)).json()
    assert (me["id"], me["roles"], me["scopes"]) == (body["id"], ["member"], ["me"])
    [event] = events(db, "user.created", body["id"])
    assert event.actor == f"user:{acme.owner.id}"
    assert event.data == {
        "after": {"email": "Ann@Acme.test", "full_name": "Ann", "status": "active"},
        "roles": ["member"],
        "invited": False,
    }
    assert GOOD_PASSWORD not in str(event.data)


def test_create_invited_returns_the_token_once(client: TestClient, acme: Acme, db: Session) -> None:
    response = client.post(
        "/users", headers=bearer(acme.token), json={"email": "bo@acme.test", "invite": True}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["password_set"] is False
    assert body["invitation"]["token"].startswith("iv_")
    expires = datetime.fromisoformat(body["invitation"]["expires_at"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)
    again = client.get(f"/users/{body['id']}", headers=bearer(acme.token)).json()
    assert "invitation" not in again
    assert events(db, "user.created", body["id"])[0].data["invited"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"email": "x@acme.test"},
        {"email": "x@acme.test", "password": GOOD_PASSWORD, "invite": True},
        {"email": "not-an-email", "invite": True},
        {"email": "two@@acme.test", "invite": True},
        {"email": "sp ace@acme.test", "invite": True},
        {"email": "nodot@localhost", "invite": True},
        {"email": "x@acme.test", "invite": True, "full_name": "n" * 201},
    ],
    ids=["neither", "both", "no-at", "two-ats", "space", "no-dot", "long-name"],
)
def test_bad_create_bodies_are_422(client: TestClient, acme: Acme, body: dict[str, object]) -> None:
    response = client.post("/users", headers=bearer(acme.token), json=body)
    assert response.status_code == 422, response.text
    assert GOOD_PASSWORD not in response.text


def test_an_email_taken_in_another_case_is_409(client: TestClient, acme: Acme) -> None:
    response = client.post(
        "/users", headers=bearer(acme.token), json={"email": "OWNER@acme.TEST", "invite": True}
    )
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"


def test_the_same_email_is_free_in_another_tenant(
    client: TestClient, acme: Acme, db: Session
) -> None:
    UserFactory(tenant=TenantFactory(slug="other"), email="shared@acme.test")
    db.commit()
    response = client.post(
        "/users", headers=bearer(acme.token), json={"email": "Shared@acme.test", "invite": True}
    )
    assert response.status_code == 201


def test_a_common_password_is_refused_with_the_reason(client: TestClient, acme: Acme) -> None:
    response = client.post(
        "/users",
        headers=bearer(acme.token),
        json={"email": "cy@acme.test", "password": "Password1234"},
    )
    assert response.status_code == 422
    assert "too common" in response.json()["error_description"]


def test_the_tenants_minimum_length_is_honoured(
    client: TestClient, acme: Acme, db: Session
) -> None:
    acme.tenant.policy = {"password_min_length": 32}
    db.commit()
    short = client.post(
        "/users",
        headers=bearer(acme.token),
        json={"email": "d@acme.test", "password": GOOD_PASSWORD},
    )
    assert short.status_code == 422
    assert short.json()["error_description"] == "password must be at least 32 characters"
    long_enough = GOOD_PASSWORD + " over the hills"
    ok = client.post(
        "/users", headers=bearer(acme.token), json={"email": "d@acme.test", "password": long_enough}
    )
    assert ok.status_code == 201


def test_creating_needs_users_write(
    client: TestClient, acme: Acme, issue_token: IssueToken
) -> None:
    token = issue_token(acme.owner, ["users:read"])
    response = client.post(
        "/users", headers=bearer(token), json={"email": "e@acme.test", "invite": True}
    )
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_granting_the_member_role_is_no_escalation(
    client: TestClient, acme: Acme, issue_token: IssueToken
) -> None:
    """A token narrowed to users:write cannot hand out `me` through the member role."""
    token = issue_token(acme.owner, ["users:write"])
    response = client.post(
        "/users", headers=bearer(token), json={"email": "f@acme.test", "invite": True}
    )
    assert response.status_code == 403
    assert response.json()["missing_scopes"] == ["me"]


# Listing


def emails(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [u["email"] for u in response.json()["items"]]


def walk(client: TestClient, token: str, **params: object) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/users", headers=bearer(token), params=query)
        pages.append(emails(response))
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages


@pytest.fixture
def crowd(acme: Acme, db: Session) -> list[str]:
    """Eleven users besides the owner, in mixed case, some disabled; sorted as listed."""
    names = ["amy", "Bob", "carl", "Dana", "ed", "Fay", "gus", "Hal", "ida", "Jo", "kim"]
    for i, name in enumerate(names):
        UserFactory(
            tenant=acme.tenant,
            email=f"{name}@acme.test",
            status=UserStatus.DISABLED if i % 3 == 0 else UserStatus.ACTIVE,
        )
    db.commit()
    return sorted([f"{n}@acme.test" for n in names] + ["owner@acme.test"], key=str.lower)


def test_pages_cover_every_user_once_in_email_order(
    client: TestClient, acme: Acme, crowd: list[str]
) -> None:
    pages = walk(client, acme.token, limit=5)
    assert [len(p) for p in pages] == [5, 5, 2]
    assert [e for page in pages for e in page] == crowd


def test_an_exact_last_page_has_no_cursor(client: TestClient, acme: Acme, crowd: list[str]) -> None:
    assert [len(p) for p in walk(client, acme.token, limit=6)] == [6, 6]


def test_filters_hold_across_pages(client: TestClient, acme: Acme, crowd: list[str]) -> None:
    disabled = [e for p in walk(client, acme.token, status="disabled", limit=2) for e in p]
    assert disabled == ["amy@acme.test", "Dana@acme.test", "gus@acme.test", "Jo@acme.test"]
    active = [e for p in walk(client, acme.token, status="active", limit=3) for e in p]
    assert len(active) == len(crowd) - 4


def test_email_prefix_is_case_insensitive_and_literal(
    client: TestClient, acme: Acme, db: Session
) -> None:
    UserFactory(tenant=acme.tenant, email="Sales.Team@acme.test")
    UserFactory(tenant=acme.tenant, email="sales_desk@acme.test")
    UserFactory(tenant=acme.tenant, email="salesXdesk@acme.test")
    db.commit()
    listed = client.get("/users", headers=bearer(acme.token), params={"email_prefix": "SALES"})
    assert emails(listed) == [
        "Sales.Team@acme.test",
        "sales_desk@acme.test",
        "salesXdesk@acme.test",
    ]
    # `_` and `%` are characters here, not LIKE wildcards.
    literal = client.get("/users", headers=bearer(acme.token), params={"email_prefix": "sales_"})
    assert emails(literal) == ["sales_desk@acme.test"]
    percent = client.get("/users", headers=bearer(acme.token), params={"email_prefix": "%"})
    assert emails(percent) == []


def test_role_filter_lists_unexpired_holders(client: TestClient, acme: Acme, db: Session) -> None:
    role = RoleFactory(tenant=acme.tenant)
    UserFactory(tenant=acme.tenant, email="holder@acme.test", roles=[role])
    lapsed = UserFactory(tenant=acme.tenant, email="lapsed@acme.test", roles=[role])
    UserFactory(tenant=acme.tenant, email="other@acme.test")
    db.flush()
    for grant in db.scalars(select(Grant).where(Grant.user_id == lapsed.id)):
        grant.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db.commit()
    listed = client.get("/users", headers=bearer(acme.token), params={"role_id": str(role.id)})
    assert emails(listed) == ["holder@acme.test"]
    nobody = client.get("/users", headers=bearer(acme.token), params={"role_id": random_id()})
    assert emails(nobody) == []


def test_listed_users_read_as_they_do_one_by_one(client: TestClient, acme: Acme) -> None:
    """The listing reads columns, not whole users: each item must still be what
    GET /users/{id} shows, for an invited, a disabled and a deleted user too."""
    made = [
        client.post("/users", headers=bearer(acme.token), json=body).json()["id"]
        for body in (
            {"email": "Invited@acme.test", "invite": True},
            {"email": "quiet@acme.test", "full_name": "Q", "password": GOOD_PASSWORD},
            {"email": "gone@acme.test", "full_name": "G", "password": GOOD_PASSWORD},
        )
    ]
    headers = bearer(acme.token)
    assert client.post(f"/users/{made[1]}/disable", headers=headers, json={}).status_code == 200
    assert client.delete(f"/users/{made[2]}", headers=headers).status_code == 204
    listed = client.get("/users", headers=headers).json()["items"]
    one_by_one = [client.get(f"/users/{u['id']}", headers=headers).json() for u in listed]
    assert listed == one_by_one
    flags = {u["id"]: (u["password_set"], u["status"], u["deleted"]) for u in listed}
    assert flags[made[0]] == (False, "active", False)
    assert flags[made[1]] == (True, "disabled", False)
    assert flags[made[2]] == (False, "disabled", True)


def test_order_is_case_insensitive_by_code_point(
    client: TestClient, acme: Acme, db: Session
) -> None:
    """lower(email) in code point order, the same whatever the server's locale: `.`
    and `_` sort as their code points, not skipped as a linguistic collation would."""
    for email in ["a_z@acme.test", "A.B@acme.test", "ab@acme.test", "AZ@acme.test", "Ä@acme.test"]:
        UserFactory(tenant=acme.tenant, email=email)
    db.commit()
    listed = [e for page in walk(client, acme.token, limit=2) for e in page]
    assert listed == [
        "A.B@acme.test",
        "a_z@acme.test",
        "ab@acme.test",
        "AZ@acme.test",
        "owner@acme.test",
        "Ä@acme.test",
    ]


def test_a_cursor_outlives_the_user_it_names(
    client: TestClient, acme: Acme, crowd: list[str]
) -> None:
    """A cursor holds a sort key, not a row: renaming the page's last user away does not
    move the next page."""
    first = client.get("/users", headers=bearer(acme.token), params={"limit": 3}).json()
    moved = client.patch(
        f"/users/{first['items'][-1]['id']}",
        headers=bearer(acme.token),
        json={"email": "zed@acme.test"},
    )
    assert moved.status_code == 200
    after = client.get(
        "/users", headers=bearer(acme.token), params={"limit": 3, "cursor": first["next_cursor"]}
    )
    assert emails(after) == crowd[3:6]


@pytest.mark.parametrize("limit", [0, 201])
def test_limit_out_of_range_is_422(client: TestClient, acme: Acme, limit: int) -> None:
    response = client.get("/users", headers=bearer(acme.token), params={"limit": limit})
    assert response.status_code == 422


NIL = "00000000-0000-0000-0000-000000000000"
NOT_OURS = "not one of the users listing's"


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        ("garbage!", "not base64url"),
        ("bm90IGpzb24", "not JSON"),
        ("eyJhIjoxfQ", NOT_OURS),
        ("WyJhIl0", NOT_OURS),
        ("WyJhIiwibm90LWEtdXVpZCJd", NOT_OURS),
        ("WzEsMl0", NOT_OURS),
        (raw_cursor(["users", "a", "not-a-uuid"]), "its id is not a UUID"),
        (raw_cursor(["users", 1, 2]), "its email is not text"),
        (raw_cursor(["users", "a\x00", NIL]), "its email holds a NUL or a lone surrogate"),
        (raw_cursor(["users", "a\ud800", NIL]), "its email holds a NUL or a lone surrogate"),
        (raw_cursor(["tenants", "acme"]), NOT_OURS),
    ],
    ids=[
        "not-base64",
        "not-json",
        "object",
        "short",
        "untagged",
        "numbers",
        "bad-uuid",
        "number-for-email",
        "nul-in-email",
        "lone-surrogate-in-email",
        "another-listing",
    ],
)
def test_a_bad_cursor_is_400(client: TestClient, acme: Acme, cursor: str, reason: str) -> None:
    response = client.get("/users", headers=bearer(acme.token), params={"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error_description"] == f"cursor is not valid: {reason}"


# Reading and editing


def test_unknown_user_is_404(client: TestClient, acme: Acme) -> None:
    assert client.get(f"/users/{random_id()}", headers=bearer(acme.token)).status_code == 404


def test_edit_audits_before_and_after_of_what_changed(
    client: TestClient, acme: Acme, db: Session
) -> None:
    user = UserFactory(tenant=acme.tenant, email="gil@acme.test", full_name="Gil")
    db.commit()
    response = client.patch(
        f"/users/{user.id}",
        headers=bearer(acme.token),
        json={"email": "gil.new@acme.test", "full_name": "Gil"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "gil.new@acme.test"
    [event] = events(db, "user.updated", user.id)
    assert event.data == {
        "before": {"email": "gil@acme.test"},
        "after": {"email": "gil.new@acme.test"},
    }
    unchanged = client.patch(
        f"/users/{user.id}", headers=bearer(acme.token), json={"full_name": "Gil"}
    )
    assert unchanged.status_code == 200
    assert len(events(db, "user.updated", user.id)) == 1


def test_edit_to_another_users_email_in_any_case_is_409(
    client: TestClient, acme: Acme, db: Session
) -> None:
    user = UserFactory(tenant=acme.tenant, email="hu@acme.test")
    db.commit()
    taken = client.patch(
        f"/users/{user.id}", headers=bearer(acme.token), json={"email": "Owner@Acme.Test"}
    )
    assert taken.status_code == 409
    recased = client.patch(
        f"/users/{user.id}", headers=bearer(acme.token), json={"email": "HU@acme.test"}
    )
    assert recased.status_code == 200
    assert recased.json()["email"] == "HU@acme.test"


# Disabling and enabling


def test_disable_cuts_the_users_token_off_at_once_and_enable_restores(
    client: TestClient, acme: Acme, db: Session, issue_token: IssueToken
) -> None:
    user = UserFactory(tenant=acme.tenant, email="ivy@acme.test")
    db.commit()
    token = issue_token(user, ["me"])
    assert client.get("/me", headers=bearer(token)).status_code == 200
    response = client.post(
        f"/users/{user.id}/disable", headers=bearer(acme.token), json={"reason": "left"}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["disabled_reason"]) == ("disabled", "left")
    assert client.get("/me", headers=bearer(token)).status_code == 401
    assert login(client, "ivy@acme.test", DEFAULT_PASSWORD).json()["error"] == "invalid_grant"
    [event] = events(db, "user.disabled", user.id)
    assert event.data == {
        "reason": "left",
        "before": {"status": "active"},
        "after": {"status": "disabled"},
    }

    again = client.post(f"/users/{user.id}/disable", headers=bearer(acme.token))
    assert again.status_code == 200
    assert len(events(db, "user.disabled", user.id)) == 1

    enabled = client.post(f"/users/{user.id}/enable", headers=bearer(acme.token))
    assert enabled.status_code == 200
    assert (enabled.json()["status"], enabled.json()["disabled_reason"]) == ("active", None)
    assert login(client, "ivy@acme.test", DEFAULT_PASSWORD).status_code == 200
    [event] = events(db, "user.enabled", user.id)
    assert event.data == {
        "before": {"status": "disabled", "disabled_reason": "left"},
        "after": {"status": "active"},
    }


def test_disabling_needs_users_disable(
    client: TestClient, acme: Acme, db: Session, issue_token: IssueToken
) -> None:
    user = UserFactory(tenant=acme.tenant)
    db.commit()
    token = issue_token(acme.owner, ["users:read", "users:write"])
    response = client.post(f"/users/{user.id}/disable", headers=bearer(token))
    assert response.status_code == 403


def test_the_last_owner_cannot_be_disabled_or_deleted(
    client: TestClient, acme: Acme, db: Session
) -> None:
    disable = client.post(f"/users/{acme.owner.id}/disable", headers=bearer(acme.token))
    assert disable.status_code == 409
    assert "owner" in disable.json()["error_description"]
    delete = client.delete(f"/users/{acme.owner.id}", headers=bearer(acme.token))
    assert delete.status_code == 409
    assert reload(db, acme.owner.id).status is UserStatus.ACTIVE

    UserFactory(tenant=acme.tenant, roles=[builtin_role(db, acme.tenant, "owner")])
    db.commit()
    assert (
        client.post(f"/users/{acme.owner.id}/disable", headers=bearer(acme.token)).status_code
        == 200
    )


# Deleting


def test_delete_anonymises_ends_sessions_and_keeps_the_audit_trail(
    client: TestClient, acme: Acme, db: Session, issue_token: IssueToken
) -> None:
    created = client.post(
        "/users",
        headers=bearer(acme.token),
        json={"email": "jan@acme.test", "full_name": "Jan Doe", "password": GOOD_PASSWORD},
    ).json()
    grant = login(client, "jan@acme.test", GOOD_PASSWORD).json()
    response = client.delete(f"/users/{created['id']}", headers=bearer(acme.token))
    assert response.status_code == 204

    assert client.get("/me", headers=bearer(grant["access_token"])).status_code == 401
    refreshed = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]}
    )
    assert refreshed.json()["error"] == "invalid_grant"
    assert login(client, "jan@acme.test", GOOD_PASSWORD).status_code == 400

    shown = client.get(f"/users/{created['id']}", headers=bearer(acme.token)).json()
    assert shown["email"] == f"deleted-{created['id']}@invalid"
    assert (shown["full_name"], shown["status"], shown["deleted"]) == ("", "disabled", True)
    assert shown["password_set"] is False
    user = reload(db, created["id"])
    assert user.password_hash is None
    assert "Jan" not in str(events(db, "user.deleted", user.id)[0].data)
    assert events(db, "user.deleted", user.id)[0].data["sessions_revoked"] == 1
    # What happened before the deletion is still on record.
    assert len(events(db, "user.created", user.id)) == 1
    assert len(events(db, "auth.login_succeeded", user.id)) == 1

    assert client.delete(f"/users/{user.id}", headers=bearer(acme.token)).status_code == 204
    assert len(events(db, "user.deleted", user.id)) == 1
    assert client.post(f"/users/{user.id}/enable", headers=bearer(acme.token)).status_code == 409
    assert (
        client.patch(
            f"/users/{user.id}", headers=bearer(acme.token), json={"full_name": "X"}
        ).status_code
        == 409
    )
    # The address is free again.
    again = client.post(
        "/users", headers=bearer(acme.token), json={"email": "jan@acme.test", "invite": True}
    )
    assert again.status_code == 201


def test_delete_revokes_every_live_session(client: TestClient, acme: Acme, db: Session) -> None:
    user = UserFactory(tenant=acme.tenant)
    sessions = [LoginSessionFactory(user=user) for _ in range(2)]
    for family in sessions:
        RefreshTokenFactory(family=family)
    db.commit()
    assert client.delete(f"/users/{user.id}", headers=bearer(acme.token)).status_code == 204
    db.expire_all()
    for family in sessions:
        db.refresh(family)
        assert family.revoked_reason == "user_deleted"
