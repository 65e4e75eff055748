"""A role edit racing client-credentials grants, against one live API process that
remembers its service accounts' scopes (security/principal_cache.py): no grant that
reads the account after the edit committed carries the scope the edit took away."""

import base64

import httpx
import jwt
import pytest
from sqlalchemy.orm import Session

from backend.db.models import ServiceAccount
from backend.domain.scopes import Scope
from tests.concurrency.conftest import Admin, race
from tests.factories import RoleFactory

pytestmark = pytest.mark.concurrency

GRANTS = 7
ATTEMPTS = 4


def test_a_role_edit_racing_grants_never_leaves_a_live_token_with_the_removed_scope(
    acme: Admin, db: Session
) -> None:
    """Each grant that carries the removed scope read the account's token version before
    the edit committed, so the edit's cut-off already refuses its token (`ver` is behind
    the account's); and the first grant after the edit's answer never carries it."""
    role = RoleFactory(tenant=acme.tenant, scopes=[Scope.AUDIT_READ, Scope.JOBS_READ])
    db.commit()
    made = httpx.post(
        f"{acme.url}/service-accounts",
        headers=acme.headers,
        json={"name": "robot", "role_ids": [str(role.id)]},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    account = made.json()
    raw = base64.b64encode(f"{account['client_id']}:{account['client_secret']}".encode())
    basic = {"Authorization": "Basic " + raw.decode()}

    def grant(client: httpx.Client) -> httpx.Response:
        return client.post("/token", data={"grant_type": "client_credentials"}, headers=basic)

    def edit(client: httpx.Client, scopes: list[str]) -> httpx.Response:
        return client.patch(f"/roles/{role.id}", headers=acme.headers, json={"scopes": scopes})

    with httpx.Client(base_url=acme.url, timeout=10) as client:
        for _ in range(ATTEMPTS):
            assert edit(client, ["audit:read", "jobs:read"]).status_code == 200
            # The app remembers the account's two scopes before the race.
            assert grant(client).json()["scope"] == "audit:read jobs:read"

            def act(racer: httpx.Client, index: int) -> httpx.Response:
                return edit(racer, ["audit:read"]) if index == 0 else grant(racer)

            answers = race(acme.url, GRANTS + 1, act)
            assert answers[0].status == 200, answers[0]
            db.expire_all()
            version = db.get_one(ServiceAccount, (acme.tenant.id, account["id"])).token_version
            for answer in answers[1:]:
                assert answer.status == 200, answer
                issued = answer.body["access_token"]  # type: ignore[index]
                claims = jwt.decode(issued, options={"verify_signature": False})
                if "jobs:read" in claims["scope"].split():
                    assert claims["ver"] < version, claims
                    refused = client.get("/jobs", headers={"Authorization": f"Bearer {issued}"})
                    assert refused.status_code == 401, refused.text
            after = grant(client)
            assert after.json()["scope"] == "audit:read", after.text
