"""Lifecycle jobs and sweeps run by a real `celery worker` process over Redis."""

import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from backend.db.models import (
    Grant,
    Job,
    JobStatus,
    LoginSession,
    RefreshToken,
    Tenant,
    User,
    UserStatus,
)
from backend.domain.scopes import TENANT_SCOPES
from backend.settings import Settings
from backend.taskqueue.config import SWEEP_TASK, create_celery
from tests.conftest import bearer, builtin_role
from tests.factories import LoginSessionFactory, TenantFactory, UserFactory
from tests.integration.worker.conftest import (
    WorkerFactory,
    insert_sessions,
    insert_users,
    wait_for,
)

IssueToken = Callable[..., str]


def job_status(db: Session, job_id: str) -> Job:
    db.expire_all()
    job = db.scalars(select(Job).where(Job.id == job_id)).one()
    return job


@pytest.fixture
def owner(db: Session) -> User:
    tenant = TenantFactory(slug="acme")
    user = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    return user


def test_offboard_completes_on_a_real_worker(
    client: TestClient,
    owner: User,
    db: Session,
    issue_token: IssueToken,
    start_worker: WorkerFactory,
) -> None:
    leaver = UserFactory(tenant_id=owner.tenant_id, tenant=None)
    LoginSessionFactory(user=leaver)
    db.commit()
    start_worker()
    token = issue_token(owner, sorted(TENANT_SCOPES))
    response = client.post(f"/users/{leaver.id}/offboard", headers=bearer(token))
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    wait_for(
        lambda: job_status(db, job_id).status is JobStatus.SUCCEEDED, timeout=60, what="offboard"
    )
    db.expire_all()
    assert db.get_one(User, (leaver.tenant_id, leaver.id)).status is UserStatus.DISABLED
    assert db.scalars(select(LoginSession.revoked_reason)).all() == ["offboarded"]
    body = client.get(f"/jobs/{job_id}", headers=bearer(token)).json()
    assert body["progress"] == {"done": 1, "total": 1}


def test_bulk_disable_of_thousands_and_a_sweep(
    client: TestClient,
    settings: Settings,
    owner: User,
    db: Session,
    owner_engine: Engine,
    issue_token: IssueToken,
    start_worker: WorkerFactory,
) -> None:
    insert_users(owner_engine, owner.tenant_id, 3000)
    start_worker(TESSERA_JOB_CHUNK_SIZE="500")
    token = issue_token(owner, sorted(TENANT_SCOPES))
    response = client.post("/users/bulk-disable", headers=bearer(token), json={"all_users": True})
    assert response.status_code == 202, response.text
    assert response.json()["progress"] == {"done": 0, "total": 3000}
    job_id = response.json()["id"]
    wait_for(lambda: job_status(db, job_id).status is JobStatus.SUCCEEDED, timeout=120, what="bulk")
    job = job_status(db, job_id)
    assert job.result == {"disabled": 3000, "skipped_owners": 1}
    disabled = db.scalar(
        select(func.count()).select_from(User).where(User.status == UserStatus.DISABLED)
    )
    assert disabled == 3000
    db.refresh(owner)
    assert owner.status is UserStatus.ACTIVE

    # A scheduled sweep, sent as beat would send it: an expired role grant goes.
    member = UserFactory(tenant_id=owner.tenant_id, tenant=None)
    db.add(
        Grant(
            tenant_id=owner.tenant_id,
            user_id=member.id,
            role_id=builtin_role(db, db.get_one(Tenant, owner.tenant_id), "auditor").id,
            expires_at=datetime.now(UTC) - timedelta(minutes=1),
        )
    )
    db.commit()
    create_celery(settings).send_task(SWEEP_TASK, args=["expire_role_grants"])
    wait_for(lambda: _grants_of(db, member) == 0, timeout=60, what="the role grant sweep")


def _grants_of(db: Session, user: User) -> int:
    db.expire_all()
    return int(
        db.scalar(select(func.count()).select_from(Grant).where(Grant.user_id == user.id)) or 0
    )


@pytest.mark.parametrize(
    ("extra", "action", "counted"),
    [({}, "user.disabled", "disabled"), ({"offboard": True}, "user.offboarded", "offboarded")],
    ids=["disable", "offboard"],
)
def test_a_killed_worker_leaves_no_user_behind_and_none_twice(
    extra: dict[str, object],
    action: str,
    counted: str,
    client: TestClient,
    owner: User,
    db: Session,
    owner_engine: Engine,
    issue_token: IssueToken,
    start_worker: WorkerFactory,
) -> None:
    insert_users(owner_engine, owner.tenant_id, 2000)
    insert_sessions(owner_engine, owner.tenant_id)
    fast_redelivery = {
        # Small batches, so the kill lands half-way however fast the machine is.
        "TESSERA_JOB_CHUNK_SIZE": "5",
        "TESSERA_CELERY_VISIBILITY_TIMEOUT_SECONDS": "3",
    }
    first = start_worker(**fast_redelivery)
    token = issue_token(owner, sorted(TENANT_SCOPES))
    job_id = client.post(
        "/users/bulk-disable", headers=bearer(token), json={"all_users": True, **extra}
    ).json()["id"]
    wait_for(lambda: job_status(db, job_id).progress_done > 0, timeout=60, what="a first batch")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    done_at_kill = job_status(db, job_id).progress_done
    assert 0 < done_at_kill < 2000, "the job must be killed half-way for this test to mean anything"

    start_worker(**fast_redelivery)
    wait_for(
        lambda: job_status(db, job_id).status is JobStatus.SUCCEEDED,
        timeout=120,
        what="the redelivered job",
    )
    job = job_status(db, job_id)
    assert job.attempts >= 2
    assert job.result == {counted: 2000, "skipped_owners": 1}
    per_user = db.execute(
        text(
            "SELECT count(*) FILTER (WHERE n <> 1), count(*) FROM ("
            " SELECT target, count(*) AS n FROM audit_events"
            " WHERE action = :action GROUP BY target) AS t"
        ),
        {"action": action},
    ).one()
    assert tuple(per_user) == (0, 2000)
    assert (
        db.scalar(select(func.count()).select_from(User).where(User.status == UserStatus.ACTIVE))
        == 1
    )
    live = db.scalars(select(LoginSession.user_id).where(LoginSession.revoked_at.is_(None)))
    if extra:
        assert live.all() == [owner.id]
        assert (
            db.scalar(
                select(func.count())
                .select_from(RefreshToken)
                .where(RefreshToken.revoked_at.is_(None), RefreshToken.user_id != owner.id)
            )
            == 0
        )
    else:
        assert len(live.all()) == 2001


def test_bulk_offboard_of_more_users_than_a_batch_on_a_real_worker(
    client: TestClient,
    owner: User,
    db: Session,
    owner_engine: Engine,
    issue_token: IssueToken,
    start_worker: WorkerFactory,
) -> None:
    insert_users(owner_engine, owner.tenant_id, 1234)
    insert_sessions(owner_engine, owner.tenant_id)
    start_worker(TESSERA_JOB_CHUNK_SIZE="500")
    token = issue_token(owner, sorted(TENANT_SCOPES))
    response = client.post(
        "/users/bulk-disable", headers=bearer(token), json={"all_users": True, "offboard": True}
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    wait_for(lambda: job_status(db, job_id).status is JobStatus.SUCCEEDED, timeout=120, what="job")
    job = job_status(db, job_id)
    assert job.result == {"offboarded": 1234, "skipped_owners": 1}
    assert (job.progress_done, job.progress_total) == (1234, 1234)
    revoked = db.execute(
        select(RefreshToken.revoked_reason, func.count()).group_by(RefreshToken.revoked_reason)
    ).all()
    assert sorted(revoked, key=str) == sorted([("offboarded", 2468), (None, 2)], key=str)
    events = db.execute(
        text(
            "SELECT count(*), count(DISTINCT target), min(data->>'sessions_revoked') "
            "FROM audit_events WHERE action = 'user.offboarded'"
        )
    ).one()
    assert tuple(events) == (1234, 1234, "1")
