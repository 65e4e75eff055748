"""The owner rule, as a property: no sequence of admin operations leaves a tenant
without an active owner, now or later.

An admin holding every tenant scope (through a custom role, so not an owner) drives
random sequences over three users, the first of them the tenant's owner: disable,
enable, delete, grant the owner role (for good or until a time), revoke it, offboard
one user and bulk-disable or bulk-offboard several (jobs queued, run later, when a
"run jobs" step comes), and time passing (every time-bound grant lapses and the
expiry sweep runs). After every step the tenant has an active user whose owner grant
does not expire: one that no time passing can take away.
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Grant, Job, JobStatus, Tenant
from backend.domain.scopes import TENANT_SCOPES
from backend.services import job_runner, sweeps
from backend.services.effects import Effects
from tests.conftest import bearer, builtin_role
from tests.factories import RoleFactory, TenantFactory, UserFactory
from tests.support.owners import lasting_owners

IssueToken = Callable[..., str]
# Anything else would be a bug: a 500, or a status the routes do not document.
EXPECTED = {200, 201, 202, 204, 404, 409}
# Removals come up more often than additions: they are where the rule can break.
KINDS = [
    "disable",
    "disable",
    "enable",
    "delete",
    "revoke",
    "grant",
    "grant until",
    "offboard",
    "offboard",
    "bulk",
    "run jobs",
    "time passes",
]


def run_queued_jobs(
    db: Session, sessions: sessionmaker[Session], effects: Effects, tenant: Tenant
) -> list[str]:
    """Run the tenant's queued jobs in the order they were asked for, as a worker would."""
    queued = db.execute(
        select(Job.id, Job.kind)
        .where(Job.tenant_id == tenant.id, Job.status == JobStatus.QUEUED)
        .order_by(Job.created_at, Job.id)
    ).all()
    db.rollback()
    outcomes = []
    for job_id, kind in queued:
        job_runner.run(sessions, effects, tenant.id, job_id, chunk=2)
        db.expire_all()
        outcomes.append(f"{kind}: {db.get_one(Job, (tenant.id, job_id)).status.value}")
    return outcomes


def time_passes(
    db: Session, sessions: sessionmaker[Session], effects: Effects, tenant: Tenant
) -> None:
    """Every time-bound grant of the tenant lapses, and the expiry sweep runs."""
    db.execute(
        update(Grant)
        .where(Grant.tenant_id == tenant.id, Grant.expires_at.is_not(None))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    db.commit()
    sweeps.run(sessions, effects, "expire_role_grants", chunk=10)


def request(
    data: st.DataObject, kind: str, targets: list[uuid.UUID], owner_role: uuid.UUID
) -> tuple[str, str, dict[str, object] | None]:
    """The HTTP call of one admin operation: (method, path, body)."""
    user = data.draw(st.sampled_from(targets), label="user")
    if kind == "bulk":
        chosen = data.draw(st.lists(st.sampled_from(targets), min_size=1, unique=True))
        body = {"user_ids": [str(u) for u in chosen], "offboard": data.draw(st.booleans())}
        return "POST", "/users/bulk-disable", body
    if kind in ("grant", "grant until"):
        until = datetime.now(UTC) + timedelta(hours=1) if kind == "grant until" else None
        body = {"expires_at": until.isoformat() if until else None}
        return "PUT", f"/users/{user}/roles/{owner_role}", body
    return {
        "disable": ("POST", f"/users/{user}/disable", {"reason": "property"}),
        "enable": ("POST", f"/users/{user}/enable", None),
        "delete": ("DELETE", f"/users/{user}", None),
        "revoke": ("DELETE", f"/users/{user}/roles/{owner_role}", None),
        "offboard": ("POST", f"/users/{user}/offboard", None),
    }[kind]


@settings(
    max_examples=60,
    deadline=None,
    # No shrinking: each example is a fresh tenant and HTTP calls, so shrinking would
    # take minutes; the notes print the failing sequence as it ran.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_sequence_of_admin_operations_leaves_a_tenant_without_an_owner(
    client: TestClient,
    db: Session,
    sessions: sessionmaker[Session],
    effects: Effects,
    issue_token: IssueToken,
    data: st.DataObject,
) -> None:
    tenant = TenantFactory()
    owner_role = builtin_role(db, tenant, "owner")
    member = builtin_role(db, tenant, "member")
    admin = UserFactory(tenant=tenant, roles=[RoleFactory(tenant=tenant, scopes=TENANT_SCOPES)])
    targets = [UserFactory(tenant=tenant, roles=[owner_role, member]).id]
    targets += [UserFactory(tenant=tenant, roles=[member]).id for _ in range(2)]
    db.commit()
    token = issue_token(admin, sorted(TENANT_SCOPES))

    for _ in range(data.draw(st.integers(1, 10), label="steps")):
        kind = data.draw(st.sampled_from(KINDS), label="operation")
        if kind == "run jobs":
            note(f"run jobs -> {run_queued_jobs(db, sessions, effects, tenant)}")
        elif kind == "time passes":
            time_passes(db, sessions, effects, tenant)
            note("time passes")
        else:
            method, path, body = request(data, kind, targets, owner_role.id)
            response = client.request(method, path, headers=bearer(token), json=body)
            note(f"{method} {path} {body} -> {response.status_code}")
            assert response.status_code in EXPECTED, (method, path, response.text)
            event(f"{kind}: {response.status_code}")
        assert lasting_owners(db, tenant.id) >= 1, "the tenant has no lasting owner"

    note(f"run jobs -> {run_queued_jobs(db, sessions, effects, tenant)}")
    time_passes(db, sessions, effects, tenant)
    assert lasting_owners(db, tenant.id) >= 1, "the tenant has no lasting owner"
