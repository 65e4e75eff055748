"""Property: POST /token never grants a scope the user's roles do not give, and no
token outlives a grant its scopes hang on.

Random role graphs (scopes, includes, expired and time-bound grants, even platform
scopes written straight into a normal tenant's roles) and random requested scope sets
go through the password grant and then a refresh. The oracle computes the expected
scopes and expiry itself, from the rows it wrote, not with the services under test.
"""

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.db.models import Grant, Tenant, User
from backend.domain.scopes import TENANT_SCOPES, Scope
from backend.services import roles
from backend.settings import Settings
from tests.conftest import bearer
from tests.factories import DEFAULT_PASSWORD, RoleFactory, TenantFactory, UserFactory
from tests.support.role_model import closure, lapses

pytestmark = pytest.mark.security

EVERY_SCOPE = sorted(Scope)
EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    # No shrinking: each example is a fresh tenant and a few HTTP calls; the notes print
    # the failing arrangement, and the example database replays it on the next run.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# A grant's expiry, relative to the arrangement: lapsed, two lapses within an access
# token's lifetime (so they cap it), or none.
EXPIRIES: dict[str, timedelta | None] = {
    "expired": timedelta(hours=-1),
    "soon": timedelta(minutes=5),
    "later": timedelta(minutes=10),
    "never": None,
}


@st.composite
def role_graphs(draw: st.DrawFn) -> list[tuple[frozenset[Scope], frozenset[int]]]:
    """Roles as (scopes, indexes of earlier roles they include): always a DAG."""
    count = draw(st.integers(0, 5), label="roles")
    return [
        (
            draw(st.frozensets(st.sampled_from(EVERY_SCOPE), max_size=6)),
            draw(st.frozensets(st.integers(0, index - 1), max_size=2)) if index else frozenset(),
        )
        for index in range(count)
    ]


@dataclass(frozen=True)
class Arranged:
    user: User
    # The unexpired grants, by role index: their expiry (None: never).
    unexpired: dict[int, datetime | None]
    role_ids: list[uuid.UUID]


def arrange(
    db: Session, graph: list[tuple[frozenset[Scope], frozenset[int]]], grants: dict[int, str]
) -> Arranged:
    tenant = TenantFactory(builtin_roles=False)
    roles: list[object] = []
    for scopes, includes in graph:
        roles.append(
            RoleFactory(tenant=tenant, scopes=sorted(scopes), includes=[roles[i] for i in includes])
        )
    user = UserFactory(tenant=tenant)
    now = datetime.now(UTC)
    expiries = {}
    for index, kind in grants.items():
        delta = EXPIRIES[kind]
        expiries[index] = None if delta is None else now + delta
        db.add(
            Grant(
                tenant_id=tenant.id,
                user_id=user.id,
                role_id=roles[index].id,  # type: ignore[attr-defined]
                expires_at=expiries[index],
            )
        )
    db.commit()
    return Arranged(
        user=user,
        unexpired={i: e for i, e in expiries.items() if grants[i] != "expired"},
        role_ids=[role.id for role in roles],  # type: ignore[attr-defined]
    )


def token_request(
    client: TestClient, data: dict[str, str], scopes: frozenset[Scope]
) -> dict[str, object]:
    if scopes:
        data = {**data, "scope": " ".join(scopes)}
    response = client.post("/token", data=data)
    assert response.status_code in (200, 400), response.text
    body: dict[str, object] = response.json()
    body["status"] = response.status_code
    return body


@pytest.mark.long
@EXAMPLES
@given(data=st.data())
def test_requested_scopes_beyond_the_roles_are_never_granted(
    client: TestClient, db: Session, settings: Settings, data: st.DataObject
) -> None:
    graph = data.draw(role_graphs())
    grants = (
        data.draw(
            st.dictionaries(
                st.integers(0, len(graph) - 1), st.sampled_from(sorted(EXPIRIES)), min_size=1
            ),
            label="grants",
        )
        if graph
        else {}
    )
    # Platform scopes never count outside the platform tenant, whatever a role row says.
    held = closure(graph, {i for i, kind in grants.items() if kind != "expired"}) & TENANT_SCOPES
    note(f"held={sorted(held)}")
    # Either some of what the user holds, or a few scopes from the whole catalogue.
    requested = data.draw(
        st.frozensets(st.sampled_from(sorted(held)) if held else st.nothing())
        | st.frozensets(st.sampled_from(EVERY_SCOPE), max_size=3),
        label="requested",
    )
    arranged = arrange(db, graph, grants)
    user, lapse = arranged.user, lapses(graph, arranged.unexpired)

    login = token_request(client, password_form(db, user), requested)
    expected = held & requested if requested else held
    event(f"login: {login['status']}")
    if requested and not expected:
        assert login == {"status": 400, **_invalid_scope(login)}
        return
    assert login["status"] == 200, login
    granted = set(str(login["scope"]).split())
    assert granted == expected
    claims = decode(settings, login["access_token"])
    assert set(str(claims["scope"]).split()) == granted
    assert claims["exp"] == expected_exp(claims["iat"], settings, granted, lapse)
    if Scope.ME in granted:
        me = client.get("/me", headers=bearer(str(login["access_token"])))
        assert set(me.json()["token_scopes"]) == granted

    # A refresh may narrow the login's scopes, never widen them.
    narrowed = data.draw(st.frozensets(st.sampled_from(EVERY_SCOPE)), label="refresh scopes")
    refreshed = token_request(
        client,
        {"grant_type": "refresh_token", "refresh_token": str(login["refresh_token"])},
        narrowed,
    )
    if not narrowed <= granted:
        assert refreshed == {"status": 400, **_invalid_scope(refreshed)}
    else:
        assert refreshed["status"] == 200, refreshed
        renewed = set(str(refreshed["scope"]).split())
        assert renewed == (narrowed or granted) & held
        issued = decode(settings, refreshed["access_token"])
        assert issued["exp"] == expected_exp(issued["iat"], settings, renewed, lapse)


def decode(settings: Settings, token: object) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        str(token), settings.signing_secret(), algorithms=["HS256"], audience=settings.jwt_audience
    )
    return claims


def expected_exp(
    issued_at: int, settings: Settings, scopes: set[str], lapse: dict[Scope, datetime | None]
) -> int:
    """The usual lifetime, cut at the first lapse among the token's scopes."""
    ends = [math.floor(end.timestamp()) for s in scopes if (end := lapse[Scope(s)]) is not None]
    return min([issued_at + settings.access_token_ttl_seconds, *ends])


@EXAMPLES
@given(data=st.data())
def test_the_sql_and_python_expansions_agree_on_lapses(db: Session, data: st.DataObject) -> None:
    """One rule, two homes: tessera_user_grants (the token grants) and RoleGraph.lapses
    (the cut-off after a role change) must say the same of every user."""
    graph = data.draw(role_graphs())
    grants = data.draw(
        st.dictionaries(st.integers(0, len(graph) - 1), st.sampled_from(sorted(EXPIRIES)))
        if graph
        else st.just({}),
        label="grants",
    )
    arranged = arrange(db, graph, grants)
    user, unexpired = arranged.user, arranged.unexpired
    row = db.execute(
        text("SELECT scopes, lapsing, lapses FROM tessera_user_grants(:t, :u, :now)"),
        {"t": user.tenant_id, "u": user.id, "now": datetime.now(UTC)},
    ).one()
    python = roles.load_role_graph(db, user.tenant_id).lapses(
        {arranged.role_ids[i]: expires_at for i, expires_at in unexpired.items()}
    )
    assert set(row.scopes) == set(python) == set(lapses(graph, unexpired))
    assert dict(zip(row.lapsing, row.lapses, strict=True)) == {
        scope: lapse for scope, lapse in python.items() if lapse is not None
    }


def password_form(db: Session, user: User) -> dict[str, str]:
    return {
        "grant_type": "password",
        "tenant": db.get_one(Tenant, user.tenant_id).slug,
        "username": user.email,
        "password": DEFAULT_PASSWORD,
    }


def _invalid_scope(body: dict[str, object]) -> dict[str, object]:
    assert body.get("error") == "invalid_scope", body
    return {"error": "invalid_scope", "error_description": body["error_description"]}


def test_a_user_without_roles_gets_no_scope_when_asking_for_one(
    client: TestClient, db: Session
) -> None:
    user = arrange(db, [], {}).user
    body = token_request(client, password_form(db, user), frozenset({Scope.ME}))
    assert body["status"] == 400
    assert body["error"] == "invalid_scope"
