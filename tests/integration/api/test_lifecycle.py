"""Lifecycle jobs through HTTP, run in-process; sweeps and the preview that mirrors them."""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.engine import Database
from backend.db.models import AuditEvent, Job, JobStatus, Tenant, User, UserRole, UserStatus
from backend.domain.scopes import TENANT_SCOPES
from backend.main import create_app
from backend.services import job_runner, sweeps
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import RefreshFamilyFactory, RefreshTokenFactory, TenantFactory, UserFactory

IssueToken = Callable[..., str]


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """The application role's sessions, as the worker uses them."""
    database = Database.from_settings(settings)
    yield database.sessions
    database.dispose()


@pytest.fixture
def owner(db: Session) -> User:
    tenant = TenantFactory(slug="acme", policy={"inactivity_days": 30})
    user = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    return user


@pytest.fixture
def token(owner: User, issue_token: IssueToken) -> str:
    return issue_token(owner, sorted(TENANT_SCOPES))


def run_job(sessions: sessionmaker[Session], owner: User, job_id: str) -> None:
    job_runner.run(sessions, owner.tenant_id, uuid.UUID(job_id), chunk=2)


def test_bulk_disable_by_last_login_in_batches(
    client: TestClient, owner: User, token: str, db: Session, sessions: sessionmaker[Session]
) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    idle = [
        UserFactory(tenant_id=owner.tenant_id, tenant=None, last_login_at=old) for _ in range(5)
    ]
    fresh = UserFactory(tenant_id=owner.tenant_id, tenant=None, last_login_at=datetime.now(UTC))
    db.commit()
    cutoff = (datetime.now(UTC) - timedelta(days=365)).isoformat()
    response = client.post(
        "/users/bulk-disable", headers=bearer(token), json={"last_login_before": cutoff}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["progress"] == {"done": 0, "total": 5}

    run_job(sessions, owner, body["id"])
    run_job(sessions, owner, body["id"])  # a redelivery: must change nothing more
    done = client.get(f"/jobs/{body['id']}", headers=bearer(token)).json()
    assert done["status"] == "succeeded"
    assert done["progress"] == {"done": 5, "total": 5}
    assert done["result"] == {"disabled": 5, "skipped_owners": 0}
    db.expire_all()
    assert {db.get_one(User, (u.tenant_id, u.id)).status for u in idle} == {UserStatus.DISABLED}
    assert db.get_one(User, (fresh.tenant_id, fresh.id)).status is UserStatus.ACTIVE
    audits = db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "user.disabled")
    )
    assert audits == 5


@pytest.mark.parametrize(
    "body",
    [{}, {"all_users": True, "user_ids": [str(uuid.uuid4())]}, {"user_ids": []}],
    ids=["nothing", "all-and-ids", "empty-ids"],
)
def test_bulk_disable_needs_one_clear_selection(
    client: TestClient, token: str, body: dict[str, object]
) -> None:
    assert client.post("/users/bulk-disable", headers=bearer(token), json=body).status_code == 422


def test_offboarding_the_last_owner_is_refused(client: TestClient, owner: User, token: str) -> None:
    response = client.post(f"/users/{owner.id}/offboard", headers=bearer(token))
    assert response.status_code == 409


def test_jobs_list_newest_first_with_cursor(
    client: TestClient, owner: User, token: str, db: Session
) -> None:
    for _ in range(3):
        assert (
            client.post(
                "/users/bulk-disable", headers=bearer(token), json={"all_users": True}
            ).status_code
            == 202
        )
    first = client.get("/jobs?limit=2", headers=bearer(token)).json()
    second = client.get(
        f"/jobs?limit=2&cursor={first['next_cursor']}", headers=bearer(token)
    ).json()
    ids = [j["id"] for j in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 3
    created = [j["created_at"] for j in first["items"] + second["items"]]
    assert created == sorted(created, reverse=True)
    assert client.get("/jobs?cursor=bad!", headers=bearer(token)).status_code == 400


def test_a_failing_job_records_its_error(
    client: TestClient, owner: User, token: str, db: Session, sessions: sessionmaker[Session]
) -> None:
    job = Job(tenant_id=owner.tenant_id, kind="no_such_kind", requested_by="test")
    db.add(job)
    db.commit()
    job_runner.run(sessions, owner.tenant_id, job.id, chunk=10)
    failed = client.get(f"/jobs/{job.id}", headers=bearer(token)).json()
    assert failed["status"] == "failed"
    assert "no_such_kind" in failed["error"]


def test_job_is_queued_even_when_redis_is_down(
    owner: User, token: str, db: Session, settings: Settings
) -> None:
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(down)) as client:
        response = client.post(
            "/users/bulk-disable", headers=bearer(token), json={"all_users": True}
        )
    assert response.status_code == 202
    db.expire_all()
    job = db.get_one(Job, (owner.tenant_id, uuid.UUID(response.json()["id"])))
    assert job.status is JobStatus.QUEUED


def test_preview_shows_exactly_what_the_sweeps_then_do(
    client: TestClient, owner: User, token: str, db: Session, sessions: sessionmaker[Session]
) -> None:
    now = datetime.now(UTC)
    idle = UserFactory(
        tenant_id=owner.tenant_id, tenant=None, email="idle@acme.test",
        last_login_at=now - timedelta(days=31),
    )  # fmt: skip
    locked = UserFactory(
        tenant_id=owner.tenant_id, tenant=None, locked_until=now - timedelta(minutes=1),
        failed_logins=5,
    )  # fmt: skip
    granted = UserFactory(tenant_id=owner.tenant_id, tenant=None)
    tenant = db.get_one(Tenant, owner.tenant_id)
    db.add(
        UserRole(
            tenant_id=tenant.id,
            user_id=granted.id,
            role_id=builtin_role(db, tenant, "auditor").id,
            expires_at=now - timedelta(seconds=5),
        )
    )
    family = RefreshFamilyFactory(user=granted, expires_at=now - timedelta(seconds=5))
    RefreshTokenFactory(family=family)
    db.commit()

    preview = client.get("/lifecycle/preview", headers=bearer(token))
    assert preview.status_code == 200, preview.text
    due = preview.json()["sweeps"]
    assert [d["subject"] for d in due["disable_inactive_users"]] == [f"user:{idle.id}"]
    assert "30 days" in due["disable_inactive_users"][0]["reason"]
    assert [d["subject"] for d in due["lift_lockouts"]] == [f"user:{locked.id}"]
    assert [d["subject"] for d in due["expire_role_grants"]] == [f"user:{granted.id}"]
    assert [d["subject"] for d in due["expire_sessions"]] == [f"user:{granted.id}"]
    # The owner idles too, but a tenant keeps its owners.
    assert f"user:{owner.id}" not in str(due)

    for name in sweeps.SWEEPS:
        sweeps.run(sessions, name, chunk=1)
    after = client.get("/lifecycle/preview", headers=bearer(token)).json()["sweeps"]
    assert all(rows == [] for rows in after.values()), after
    db.expire_all()
    assert db.get_one(User, (idle.tenant_id, idle.id)).status is UserStatus.DISABLED
    assert db.get_one(User, (locked.tenant_id, locked.id)).locked_until is None
    assert db.get_one(User, (granted.tenant_id, granted.id)).token_version == 2
    assert db.scalars(select(UserRole).where(UserRole.user_id == granted.id)).all() == []


def test_sweeps_leave_tenants_without_the_policy_alone(
    owner: User, db: Session, sessions: sessionmaker[Session]
) -> None:
    quiet = TenantFactory(slug="quiet")
    sleeper = UserFactory(tenant=quiet, last_login_at=datetime.now(UTC) - timedelta(days=3000))
    db.commit()
    sweeps.run(sessions, "disable_inactive_users", chunk=10)
    db.expire_all()
    assert db.get_one(User, (sleeper.tenant_id, sleeper.id)).status is UserStatus.ACTIVE
