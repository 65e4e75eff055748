"""Platform operators register clients over HTTP: validated, audited, the secret shown once."""

import hashlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import AuditEvent, Client, User
from backend.domain.scopes import Scope
from backend.services import clients as client_service
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory

IssueToken = Callable[..., str]
SPA = {
    "client_id": "acme-spa",
    "name": "Acme single-page app",
    "type": "public",
    "redirect_uris": ["https://app.acme.test/callback", "http://127.0.0.1:5173/cb"],
    "post_logout_redirect_uris": ["https://app.acme.test/"],
    "allowed_origins": ["https://app.acme.test"],
    "grant_types": ["authorization_code", "refresh_token"],
    "resources": ["tessera-api"],
}


@pytest.fixture
def token(operator: User, issue_token: IssueToken) -> str:
    return issue_token(operator, [Scope.CLIENTS_READ, Scope.CLIENTS_WRITE])


def register(client: TestClient, token: str, **changes: Any) -> httpx.Response:
    return client.post("/clients", headers=bearer(token), json={**SPA, **changes})


def altered(secret: str) -> str:
    """The secret with its last character changed."""
    return secret[:-1] + ("B" if secret.endswith("A") else "A")


def events(db: Session, action: str) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_a_public_client_is_registered_and_read_back(
    client: TestClient, token: str, db: Session, operator: User
) -> None:
    response = register(client, token)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["client_secret"] is None
    assert body["secret_prefix"] is None
    assert {k: body[k] for k in SPA} == SPA
    assert client.get(f"/clients/{body['id']}", headers=bearer(token)).json() == {
        k: v for k, v in body.items() if k != "client_secret"
    }
    (event,) = events(db, "client.created")
    assert event.tenant_id == operator.tenant_id
    assert event.actor == f"user:{operator.id}"
    assert event.target == f"client:{body['id']}"
    assert event.data["after"]["redirect_uris"] == SPA["redirect_uris"]


def test_a_confidential_client_gets_its_secret_once_and_only_its_hash_is_kept(
    client: TestClient, token: str, db: Session
) -> None:
    response = register(client, token, client_id="acme-server", type="confidential")
    assert response.status_code == 201, response.text
    assert response.headers["Cache-Control"] == "no-store"
    secret = response.json()["client_secret"]
    assert secret.startswith("app_")
    assert response.json()["secret_prefix"] == secret[:12]
    stored = db.scalars(select(Client)).one()
    assert stored.secret_hash == hashlib.sha256(secret.encode()).digest()
    assert client_service.authenticate_secret(stored, secret)
    assert not client_service.authenticate_secret(stored, altered(secret))
    assert not client_service.authenticate_secret(stored, "")
    listed = client.get("/clients", headers=bearer(token))
    assert secret not in listed.text
    assert secret not in str([e.data for e in db.scalars(select(AuditEvent))])


def test_a_taken_client_id_is_a_conflict(client: TestClient, token: str) -> None:
    assert register(client, token).status_code == 201
    again = register(client, token, name="Other")
    assert again.status_code == 409
    assert "client 'acme-spa' already exists" in again.json()["error_description"]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"redirect_uris": ["https://app.acme.test/cb#x"]}, "has a fragment"),
        ({"redirect_uris": ["http://app.acme.test/cb"]}, "only for 127.0.0.1 and localhost"),
        ({"redirect_uris": ["/relative"]}, "is not absolute"),
        ({"redirect_uris": ["javascript:alert(1)"]}, "private-use scheme"),
        ({"post_logout_redirect_uris": ["https://evil.test/#"]}, "post_logout_redirect_uris"),
        ({"allowed_origins": ["https://app.acme.test/"]}, "is not an origin"),
        ({"resources": ["https://api.elsewhere.test"]}, "no API has the identifier"),
        ({"client_id": "-bad"}, "client_id '-bad' is invalid"),
        ({"redirect_uris": [], "grant_types": ["authorization_code"]}, "needs at least one"),
        ({"redirect_uris": ["https://app.acme.test/\u0000"]}, "NUL"),
        ({"redirect_uris": ["https://app.acme.test/\u00e9"]}, "characters a URI may not"),
        ({"name": "nul\u0000name"}, "NUL"),
    ],
)
def test_a_client_that_breaks_a_rule_is_refused_with_the_reason(
    client: TestClient, token: str, db: Session, changes: dict[str, Any], reason: str
) -> None:
    response = register(client, token, **changes)
    assert response.status_code == 422, response.text
    assert reason in response.json()["error_description"]
    assert db.scalars(select(Client)).all() == []
    assert events(db, "client.created") == []


def test_a_lone_surrogate_is_refused_not_a_server_error(client: TestClient, token: str) -> None:
    raw = '{"client_id": "x", "name": "\\ud800", "type": "public", "grant_types": ["password"]}'
    response = client.post(
        "/clients",
        headers={**bearer(token), "Content-Type": "application/json"},
        content=raw.encode(),
    )
    assert response.status_code == 422, response.text


def test_patch_changes_what_is_sent_and_audits_only_that(
    client: TestClient, token: str, db: Session
) -> None:
    id = register(client, token).json()["id"]
    uris = ["https://app.acme.test/new-callback"]
    response = client.patch(f"/clients/{id}", headers=bearer(token), json={"redirect_uris": uris})
    assert response.status_code == 200, response.text
    assert response.json()["redirect_uris"] == uris
    assert response.json()["name"] == SPA["name"]
    (event,) = events(db, "client.updated")
    assert event.data == {
        "before": {"redirect_uris": SPA["redirect_uris"]},
        "after": {"redirect_uris": uris},
    }
    # The same change again changes nothing and records nothing.
    client.patch(f"/clients/{id}", headers=bearer(token), json={"redirect_uris": uris})
    assert len(events(db, "client.updated")) == 1


@pytest.mark.parametrize(
    "body",
    [{"client_id": "renamed"}, {"type": "confidential"}, {"redirect_uris": ["http://evil.test/"]}],
)
def test_patch_refuses_immutable_fields_and_bad_uris(
    client: TestClient, token: str, db: Session, body: dict[str, Any]
) -> None:
    id = register(client, token).json()["id"]
    response = client.patch(f"/clients/{id}", headers=bearer(token), json=body)
    assert response.status_code == 422, response.text
    assert db.scalars(select(Client.redirect_uris)).one() == SPA["redirect_uris"]
    assert events(db, "client.updated") == []


def test_delete_removes_the_client_and_audits_it(
    client: TestClient, token: str, db: Session
) -> None:
    id = register(client, token).json()["id"]
    assert client.delete(f"/clients/{id}", headers=bearer(token)).status_code == 204
    assert client.get(f"/clients/{id}", headers=bearer(token)).status_code == 404
    assert client.delete(f"/clients/{id}", headers=bearer(token)).status_code == 404
    (event,) = events(db, "client.deleted")
    assert event.data["before"]["client_id"] == "acme-spa"


def test_list_pages_by_client_id(client: TestClient, token: str) -> None:
    for name in ("c-3", "c-1", "c-2"):
        assert register(client, token, client_id=name).status_code == 201
    first = client.get("/clients", headers=bearer(token), params={"limit": 2}).json()
    assert [c["client_id"] for c in first["items"]] == ["c-1", "c-2"]
    rest = client.get(
        "/clients", headers=bearer(token), params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [c["client_id"] for c in rest["items"]] == ["c-3"]
    assert rest["next_cursor"] is None


def test_reading_needs_clients_read_and_writing_clients_write(
    client: TestClient, operator: User, issue_token: IssueToken
) -> None:
    reader = issue_token(operator, [Scope.CLIENTS_READ])
    assert client.get("/clients", headers=bearer(reader)).status_code == 200
    refused = register(client, reader)
    assert refused.status_code == 403
    assert refused.json()["scope"] == "clients:write"
    writer = issue_token(operator, [Scope.CLIENTS_WRITE])
    assert client.get("/clients", headers=bearer(writer)).status_code == 403


def test_a_tenant_owner_cannot_see_or_register_clients(
    client: TestClient, db: Session, issue_token: IssueToken, token: str
) -> None:
    register(client, token)
    tenant = TenantFactory(slug="acme", name="Acme")
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    # Even a token that claims the platform scopes outside the platform tenant.
    sneaky = issue_token(owner, [Scope.CLIENTS_READ, Scope.CLIENTS_WRITE])
    assert client.get("/clients", headers=bearer(sneaky)).status_code == 403
    assert register(client, sneaky, client_id="mine").status_code == 403


def test_the_application_role_cannot_write_clients_outside_the_operators_path(
    sessions: sessionmaker[Session],
) -> None:
    """Row-level security: a transaction not let in as a platform operator reads clients
    but writes none."""
    with sessions() as session:
        session.add(Client(client_id="sneaky", name="x", type="public"))
        with pytest.raises(ProgrammingError, match="row-level security"):
            session.flush()


@pytest.fixture
def member(db: Session) -> User:
    tenant = TenantFactory(slug="acme", name="Acme")
    user = UserFactory(
        tenant=tenant, email="ann@acme.test", roles=[builtin_role(db, tenant, "member")]
    )
    db.commit()
    return user


def password_login(client: TestClient, **extra: str) -> httpx.Response:
    form = {"grant_type": "password", "username": "acme/ann@acme.test"}
    return client.post("/token", data={**form, "password": DEFAULT_PASSWORD, **extra})


def test_the_password_grant_without_a_client_works_as_before(
    client: TestClient, member: User
) -> None:
    assert password_login(client).status_code == 200


@pytest.mark.usefixtures("member")
def test_a_client_can_have_the_password_grant_turned_off(client: TestClient, token: str) -> None:
    register(client, token, client_id="scripts", grant_types=["password"])
    assert password_login(client, client_id="scripts").status_code == 200
    register(client, token)  # acme-spa: authorization_code and refresh_token only
    refused = password_login(client, client_id="acme-spa")
    assert refused.status_code == 400
    assert refused.json()["error"] == "unauthorized_client"
    assert "access_token" not in refused.text


@pytest.mark.usefixtures("member")
def test_an_unknown_or_unauthenticated_client_is_invalid_client(
    client: TestClient, token: str
) -> None:
    unknown = password_login(client, client_id="nobody")
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_client"
    created = register(
        client, token, client_id="backend", type="confidential", grant_types=["password"]
    )
    secret = created.json()["client_secret"]
    for attempt in ({}, {"client_secret": altered(secret)}):
        refused = password_login(client, client_id="backend", **attempt)
        assert refused.status_code == 400, attempt
        assert refused.json()["error"] == "invalid_client"
    assert password_login(client, client_id="backend", client_secret=secret).status_code == 200
