"""No sequence of admin operations leaves a tenant without an active owner who lasts.

A property test over HTTP: an administrator holding every tenant scope (through a custom
role, so they never count as an owner themselves) applies a random sequence of the
operations that can take an owner away or make one (disable, enable, delete, offboard,
bulk disable and bulk offboard, grant the owner role with or without an expiry, revoke
it), interleaved with the jobs they queued running later, in any order, the inactivity
and grant-expiry sweeps, and time-bound grants lapsing. After every step, and once all
that is queued has run and every time-bound grant has lapsed, the tenant keeps at least
one active user holding the owner role through a grant with no expiry; every answer is
a success, a 404 or a 409. Each example is a fresh tenant; at most twelve steps.
"""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from backend.db.engine import Database
from backend.db.models import Grant
from backend.domain.scopes import TENANT_SCOPES
from backend.services import job_runner, sweeps
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import RoleFactory, TenantFactory, UserFactory
from tests.support.owners import lasting_owners

pytestmark = pytest.mark.security

IssueToken = Callable[..., str]
LONG_AGO = datetime.now(UTC) - timedelta(days=400)
USERS = 3
OPERATIONS = [
    "disable",
    "enable",
    "delete",
    "offboard",
    "bulk_disable",
    "bulk_offboard",
    "grant_owner",
    "grant_owner_expiring",
    "revoke_owner",
    "run_job",
    "sweep",
    "lapse",
]
# What an admin operation may answer: done, queued, no such user, or refused by a rule.
EXPECTED = {200, 201, 202, 204, 404, 409}
steps = st.lists(
    st.tuples(st.sampled_from(OPERATIONS), st.integers(0, USERS - 1)), min_size=1, max_size=12
)


@pytest.fixture(scope="module")
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    database = Database.from_settings(settings)
    yield database.sessions
    database.dispose()


@pytest.mark.long
@settings(
    max_examples=60,
    deadline=None,
    # No shrinking: each example is a fresh tenant and a dozen HTTP calls; the notes
    # print the failing sequence as it ran.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=steps)
def test_no_sequence_of_admin_operations_leaves_a_tenant_without_an_owner(
    client: TestClient,
    db: Session,
    sessions: sessionmaker[Session],
    effects: Effects,
    issue_token: IssueToken,
    sequence: list[tuple[str, int]],
) -> None:
    # Idle far beyond the tenant's inactivity policy: the sweep would disable them all.
    tenant = TenantFactory(policy={"inactivity_days": 30})
    owner_role = builtin_role(db, tenant, "owner")
    everything = RoleFactory(tenant=tenant, scopes=sorted(TENANT_SCOPES))
    admin = UserFactory(tenant=tenant, roles=[everything])
    users = [
        UserFactory(
            tenant=tenant,
            roles=[owner_role] if index < 2 else [],
            last_login_at=LONG_AGO,
        )
        for index in range(USERS)
    ]
    db.commit()
    auth = bearer(issue_token(admin, sorted(TENANT_SCOPES)))
    queued: list[uuid.UUID] = []

    def call(method: str, path: str, **kwargs: object) -> httpx.Response:
        response = client.request(method, path, headers=auth, **kwargs)  # type: ignore[arg-type]
        assert response.status_code in EXPECTED, (method, path, response.text)
        if response.status_code == 202:
            queued.append(uuid.UUID(response.json()["id"]))
        return response

    for operation, index in sequence:
        user = f"/users/{users[index].id}"
        grant = f"{user}/roles/{owner_role.id}"
        soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        match operation:
            case "disable" | "enable" | "offboard":
                call("POST", f"{user}/{operation}")
            case "delete":
                call("DELETE", user)
            case "bulk_disable" | "bulk_offboard":
                ids = [str(u.id) for u in users[: index + 1]]
                body = {"user_ids": ids, "offboard": operation == "bulk_offboard"}
                call("POST", "/users/bulk-disable", json=body)
            case "grant_owner":
                call("PUT", grant, json={})
            case "grant_owner_expiring":
                call("PUT", grant, json={"expires_at": soon})
            case "revoke_owner":
                call("DELETE", grant)
            case "run_job":
                # Jobs run later, and in any order: the one picked here may be any queued.
                if queued:
                    job = queued.pop(index % len(queued))
                    job_runner.run(sessions, effects, tenant.id, job, chunk=2)
            case "sweep":
                for name in ("disable_inactive_users", "expire_role_grants"):
                    sweeps.run(sessions, effects, name, chunk=2)
            case "lapse":
                lapse_grants(db, sessions, effects, tenant.id)
        owners = lasting_owners(db, tenant.id)
        note(f"{operation}({index}) -> {owners} lasting owner(s)")
        assert owners >= 1, f"no owner left after {operation}({index})"
    # Whatever is still queued runs, and every time-bound grant lapses: still an owner.
    for job in queued:
        job_runner.run(sessions, effects, tenant.id, job, chunk=2)
    lapse_grants(db, sessions, effects, tenant.id)
    assert lasting_owners(db, tenant.id) >= 1, "no owner left once everything ran"


def lapse_grants(
    db: Session, sessions: sessionmaker[Session], effects: Effects, tenant_id: uuid.UUID
) -> None:
    """Every time-bound grant of the tenant reaches its expiry, and the expiry sweep runs."""
    db.execute(
        update(Grant)
        .where(Grant.tenant_id == tenant_id, Grant.expires_at.is_not(None))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    db.commit()
    sweeps.run(sessions, effects, "expire_role_grants", chunk=10)
