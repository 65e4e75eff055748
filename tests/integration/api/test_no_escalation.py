"""No escalation, as a property: over random role graphs and random sequences of role
and grant changes, made through HTTP by an actor holding a random set of scopes,
nobody ends up with a scope they did not have unless the actor could act with it.

For every user u of the tenant (the actor included), scopes_after(u) is within
scopes_before(u) | acting_before, where acting_before is what the actor could hand
out at the start: the token's scopes cut to what the actor's roles gave, and the
product scopes (of a registered API) its roles gave, which no token for Tessera
carries. Dry runs, in the same sequences, change nothing.

Hypothesis draws small integers most often, so `st.integers(0, n)` compared with n
below is a biased coin: n is the rarer case (no manager, a narrowed token, a dry run).
"""

import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Api, ApiScope, Role, Tenant, User
from backend.domain.scopes import TENANT_SCOPES, Scope
from backend.services import roles
from tests.conftest import bearer
from tests.factories import RoleFactory, TenantFactory, UserFactory

IssueToken = Callable[..., str]
# A product API's scopes, registered once per test: roles carry them like any other.
PRODUCT = "https://api.example.com/projects"
PRODUCT_SCOPES = ["projects:read", "projects:write", "invoices:read"]
SCOPES = sorted([*TENANT_SCOPES, *PRODUCT_SCOPES])
MANAGE: frozenset[str] = frozenset({Scope.ROLES_WRITE, Scope.ROLES_ASSIGN})
# Anything else would be a bug: a 500, or a status the routes do not document.
EXPECTED = {200, 201, 204, 400, 401, 403, 404, 409, 422}
KINDS = ["edit", "assign", "create", "edit", "assign", "unassign", "delete"]

scope_sets = st.frozensets(st.sampled_from(SCOPES), max_size=4)


def effective(db: Session, tenant: Tenant, users: list[User]) -> dict[uuid.UUID, frozenset[str]]:
    return {u.id: roles.effective_scopes(db, tenant.id, u.id, platform=False) for u in users}


def role_ids(db: Session, tenant: Tenant) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """(custom roles, all roles) of the tenant, in a stable order."""
    rows = db.execute(
        select(Role.id, Role.builtin).where(Role.tenant_id == tenant.id).order_by(Role.name)
    ).all()
    return [i for i, builtin in rows if not builtin], [i for i, _ in rows]


def arrange(db: Session, data: st.DataObject) -> tuple[Tenant, list[User], frozenset[str]]:
    """A fresh tenant: the built-ins, a few custom roles forming a random DAG, the actor
    and two other users with random grants. Returns the tenant, users (actor first) and
    the actor's role's own scopes."""
    if db.scalar(select(Api.id).where(Api.identifier == PRODUCT)) is None:
        api = Api(identifier=PRODUCT, name="Projects")
        db.add(api)
        db.flush()
        db.add_all(ApiScope(name=name, api_id=api.id) for name in PRODUCT_SCOPES)
    tenant = TenantFactory()
    existing = list(db.scalars(select(Role).where(Role.tenant_id == tenant.id)))
    for _ in range(data.draw(st.integers(0, 2), label="custom roles")):
        includes = data.draw(st.lists(st.sampled_from(existing), max_size=2, unique=True))
        existing.append(RoleFactory(tenant=tenant, scopes=data.draw(scope_sets), includes=includes))
    # Mostly a role manager, so that many calls are allowed and the property has teeth.
    manager = data.draw(st.integers(0, 9), label="manager") != 9
    held = data.draw(scope_sets, label="actor role") | (MANAGE if manager else frozenset())
    actor_role = RoleFactory(tenant=tenant, scopes=held)
    grants = st.lists(st.sampled_from(existing), max_size=2, unique=True)
    users = [UserFactory(tenant=tenant, roles=[actor_role, *data.draw(grants)])]
    users += [UserFactory(tenant=tenant, roles=data.draw(grants)) for _ in range(2)]
    db.commit()
    return tenant, users, held


def requested_scopes(held: frozenset[str]) -> st.SearchStrategy[frozenset[str]]:
    """Scopes for a role: some of the actor's own, alone (an allowed change) or with one
    more scope from the catalogue (most often an escalation attempt)."""
    own = st.frozensets(st.sampled_from(sorted(held)), max_size=3) if held else st.just(frozenset())
    return st.sampled_from(["own", "own and one more"]).flatmap(
        lambda how: (
            own
            if how == "own"
            else st.tuples(own, st.sampled_from(SCOPES)).map(lambda t: t[0] | {t[1]})
        )
    )


def random_call(
    data: st.DataObject,
    ids: tuple[list[uuid.UUID], list[uuid.UUID]],
    users: list[User],
    held: frozenset[str],
) -> tuple[str, str, str, dict[str, object] | None]:
    """One role or grant change, as (kind, method, path, body), maybe a dry run.

    Scopes and roles are drawn mostly from what the actor could hold (its own scopes,
    custom roles), so that many changes are allowed, and sometimes from anywhere, so
    that some are escalation attempts.
    """
    custom, every = ids
    # Edits and grants are where escalation would hide: they come up twice as often.
    kind = data.draw(st.sampled_from(KINDS))
    pool = custom if custom and data.draw(st.integers(0, 3)) != 3 else every
    role = data.draw(st.sampled_from(pool))
    user = data.draw(st.sampled_from(users)).id
    includes = [str(i) for i in data.draw(st.lists(st.sampled_from(pool), max_size=1))]
    scopes = sorted(data.draw(requested_scopes(held)))
    dry = data.draw(st.integers(0, 4)) == 4
    query = "?dry_run=true" if dry else ""
    label = f"{kind}{' (dry run)' if dry else ''}"
    if kind == "create":
        name = f"r-{uuid.uuid4().hex[:8]}"
        return (
            label,
            "POST",
            f"/roles{query}",
            {"name": name, "scopes": scopes, "includes": includes},
        )
    if kind == "edit":
        body: dict[str, object] = {}
        if data.draw(st.integers(0, 3)) != 3:
            body["scopes"] = scopes
        if data.draw(st.integers(0, 2)) == 2:
            body["includes"] = includes
        return label, "PATCH", f"/roles/{role}{query}", body
    if kind == "delete":
        return label, "DELETE", f"/roles/{role}{query}", None
    if kind == "assign":
        return label, "PUT", f"/users/{user}/roles/{role}{query}", {}
    return label, "DELETE", f"/users/{user}/roles/{role}{query}", None


@settings(
    max_examples=40,
    deadline=None,
    # No shrinking: each example is a fresh tenant and a few HTTP calls, so shrinking
    # a failure would take minutes; the notes print the failing sequence (at most six
    # calls) as it ran, and the example database replays it on the next run.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_sequence_of_changes_escalates(
    client: TestClient, db: Session, issue_token: IssueToken, data: st.DataObject
) -> None:
    tenant, users, held = arrange(db, data)
    actor = users[0]
    # Mostly a token with all the actor's role gives; sometimes narrower or wider.
    narrowed = data.draw(st.integers(0, 5), label="narrowed") == 5
    token_scopes = data.draw(st.frozensets(st.sampled_from(SCOPES))) if narrowed else held
    # A token for Tessera's own API never carries product scopes (one audience per token).
    token_scopes = token_scopes & TENANT_SCOPES
    before = effective(db, tenant, users)
    acting = (before[actor.id] & token_scopes) | (before[actor.id] - TENANT_SCOPES)

    for _ in range(data.draw(st.integers(1, 6), label="steps")):
        # A fresh token each step, as after a re-login: a cut-off must not end the run.
        db.refresh(actor)
        token = issue_token(actor, sorted(token_scopes))
        label, method, path, body = random_call(data, role_ids(db, tenant), users, held)
        snapshot = effective(db, tenant, users)
        response = client.request(method, path, headers=bearer(token), json=body)
        note(f"{method} {path} {body} -> {response.status_code}")
        assert response.status_code in EXPECTED, (method, path, response.text)
        event(f"{label}: {response.status_code}")
        if "dry_run" in path:
            assert effective(db, tenant, users) == snapshot, (method, path)

    after = effective(db, tenant, users)
    for user in users:
        escalated = after[user.id] - before[user.id] - acting
        assert not escalated, f"user {user.email} gained {sorted(escalated)}"
