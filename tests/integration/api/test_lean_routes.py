"""/token, /revoke and /introspect answer a well-formed form without FastAPI's dependency
solving (backend/api/lean.py), and anything else through FastAPI as before: both paths
give the same answers. The other path is taken here by adding a field the form model
does not know, which FastAPI ignores and the lean path leaves to it. GET /me solves its
guard itself: its refusals are those of another route with the same guard through
FastAPI (GET /me/sessions)."""

import base64
import hashlib
import uuid
from collections.abc import Callable

import fastapi.routing
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.db.models import ServiceAccount, ServiceAccountRole, User, UserStatus
from backend.domain.scopes import Scope
from tests.conftest import builtin_role
from tests.factories import DEFAULT_PASSWORD, RoleFactory, TenantFactory, UserFactory

IssueToken = Callable[..., str]
# Answer headers that differ between any two requests.
VARYING = {"x-request-id", "content-length"}
FALLBACK = {"unknown_field": "makes FastAPI answer"}


@pytest.fixture
def user(db: Session) -> User:
    tenant = TenantFactory(slug="acme")
    member = UserFactory(
        tenant=tenant, email="ann@acme.test", roles=[builtin_role(db, tenant, "member")]
    )
    db.commit()
    return member


@pytest.fixture
def solves(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests FastAPI solved dependencies for."""
    solved: list[str] = []
    solve = fastapi.routing.solve_dependencies

    async def counted(*args: object, **kwargs: object) -> object:
        request = kwargs["request"]
        solved.append(request.url.path)  # type: ignore[attr-defined]
        return await solve(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    return solved


def login(client: TestClient, **extra: str) -> httpx.Response:
    return client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": "acme/ann@acme.test",
            "password": DEFAULT_PASSWORD,
            **extra,
        },
    )


def same_answer(lean: httpx.Response, full: httpx.Response) -> None:
    """Same status, headers (but the request id and length) and body fields."""
    assert lean.status_code == full.status_code, (lean.text, full.text)
    assert [(k, v) for k, v in lean.headers.multi_items() if k not in VARYING] == [
        (k, v) for k, v in full.headers.multi_items() if k not in VARYING
    ]
    lean_body, full_body = lean.json(), full.json()
    if isinstance(lean_body, dict) and isinstance(full_body, dict):
        assert list(lean_body) == list(full_body)
        for key in ("token_type", "expires_in", "scope", "error", "error_description", "active"):
            assert lean_body.get(key) == full_body.get(key), key
    else:
        assert lean_body == full_body


def test_grants_answer_alike_on_both_paths(
    client: TestClient, user: User, solves: list[str]
) -> None:
    lean, full = login(client), login(client, **FALLBACK)
    same_answer(lean, full)
    assert solves == ["/token"], "only the request with an unknown field goes to FastAPI"
    solves.clear()
    refreshed = [
        client.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": grant["refresh_token"], **more},
            headers={"User-Agent": "pytest/1.0"},
        )
        for grant, more in ((lean.json(), {}), (full.json(), FALLBACK))
    ]
    same_answer(*refreshed)
    assert solves == ["/token"]


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "refresh_token", "refresh_token": "rt_unknown"},
        {"grant_type": "password", "username": "acme/ann@acme.test", "password": "wrong pw"},
        {"grant_type": "password", "username": "nobody", "password": "x"},
        {"grant_type": "client_credentials"},
        {"grant_type": "jwt-bearer"},
        {"grant_type": "refresh_token"},
        {
            "grant_type": "password",
            "username": "acme/ann@acme.test",
            "password": DEFAULT_PASSWORD,
            "scope": "not-a-scope",
        },
    ],
    ids=[
        "unknown-refresh",
        "wrong-password",
        "no-tenant",
        "no-basic",
        "unsupported",
        "missing-token",
        "bad-scope",
    ],
)
def test_refusals_answer_alike_on_both_paths(
    client: TestClient, user: User, form: dict[str, str], solves: list[str]
) -> None:
    solves.clear()
    same_answer(client.post("/token", data=form), client.post("/token", data={**form, **FALLBACK}))
    # Only the second went through FastAPI's solver: the first was the lean path's.
    assert solves == ["/token"]


def test_revocation_answers_alike_on_both_paths(
    client: TestClient, user: User, solves: list[str]
) -> None:
    tokens = [login(client).json()["refresh_token"] for _ in range(2)]
    solves.clear()
    lean = client.post("/revoke", data={"token": tokens[0]})
    full = client.post("/revoke", data={"token": tokens[1], **FALLBACK})
    same_answer(lean, full)
    assert lean.content == b"null"
    assert solves == ["/revoke"]
    for token in tokens:
        again = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token})
        assert again.json()["error"] == "invalid_grant"


def test_introspection_answers_alike_on_both_paths(
    client: TestClient, user: User, db: Session, solves: list[str]
) -> None:
    introspector = RoleFactory(tenant_id=user.tenant_id, scopes=[Scope.TOKENS_INTROSPECT])
    db.commit()
    account = _service_account(db, user, introspector.id)
    token = login(client).json()["access_token"]
    solves.clear()
    answers = [
        client.post("/introspect", data={"token": token, **more}, headers=account)
        for more in ({}, FALLBACK)
    ]
    same_answer(*answers)
    assert answers[0].json()["active"] is True
    assert solves == ["/introspect"]
    refused = [client.post("/introspect", data={"token": token, **more}) for more in ({}, FALLBACK)]
    same_answer(*refused)
    assert refused[0].status_code == 401


def _service_account(db: Session, user: User, role_id: uuid.UUID) -> dict[str, str]:
    """HTTP Basic credentials of a service account holding the role."""
    account_id, secret = uuid.uuid4(), "introspector-secret"
    db.add(
        ServiceAccount(
            tenant_id=user.tenant_id,
            id=account_id,
            name="introspector",
            secret_hash=hashlib.sha256(secret.encode()).digest(),
            secret_prefix="x",
        )
    )
    db.flush()
    db.add(
        ServiceAccountRole(tenant_id=user.tenant_id, service_account_id=account_id, role_id=role_id)
    )
    db.commit()
    raw = base64.b64encode(f"sa_{user.tenant_id.hex}_{account_id.hex}:{secret}".encode())
    return {"Authorization": "Basic " + raw.decode()}


def test_me_solves_its_guard_itself(
    client: TestClient, user: User, issue_token: IssueToken, solves: list[str]
) -> None:
    token = issue_token(user, ["me"])
    answer = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["email"] == "ann@acme.test"
    assert client.get("/me/sessions", headers={"Authorization": f"Bearer {token}"}).is_success
    assert solves == ["/me/sessions"]


@pytest.mark.parametrize(
    "credential",
    ["none", "not-bearer", "garbage", "no-me-scope", "disabled", "bad-api-key"],
)
def test_me_refuses_as_the_guard_does_through_fastapi(
    client: TestClient, user: User, db: Session, issue_token: IssueToken, credential: str
) -> None:
    headers = {
        "none": {},
        "not-bearer": {"Authorization": "Basic YTpi"},
        "garbage": {"Authorization": "Bearer not.a.token"},
        "no-me-scope": {"Authorization": f"Bearer {issue_token(user, ['audit:read'])}"},
        "disabled": {"Authorization": f"Bearer {issue_token(user, ['me'])}"},
        "bad-api-key": {"X-API-Key": "ak_nothing"},
    }[credential]
    if credential == "disabled":
        user.status = UserStatus.DISABLED
        db.commit()
    lean = client.get("/me", headers=headers)
    full = client.get("/me/sessions", headers=headers)
    assert lean.status_code in (401, 403), lean.text
    same_answer(lean, full)
