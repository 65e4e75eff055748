"""The owner rule is checked again when a job runs, not only when it is queued."""

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Job, JobStatus, User, UserStatus
from backend.domain.scopes import Scope
from tests.conftest import bearer, builtin_role
from tests.factories import RoleFactory, TenantFactory, UserFactory
from tests.integration.worker.conftest import WorkerFactory, wait_for

IssueToken = Callable[..., str]
FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED)


def jobs_of(db: Session, ids: list[str]) -> list[Job]:
    db.expire_all()
    return list(db.scalars(select(Job).where(Job.id.in_(ids))))


def test_offboarding_both_owners_on_two_workers_keeps_one(
    client: TestClient, db: Session, issue_token: IssueToken, start_worker: WorkerFactory
) -> None:
    """Both requests are accepted (each owner has another at that moment); when the
    jobs run, on two workers at once, the second to reach the rule is refused and says
    so in its error, and the tenant keeps an owner."""
    tenant = TenantFactory()
    owner_role = builtin_role(db, tenant, "owner")
    owners = [UserFactory(tenant=tenant, roles=[owner_role]) for _ in range(2)]
    offboarder = RoleFactory(tenant=tenant, scopes=[Scope.USERS_DISABLE, Scope.JOBS_READ])
    admin = UserFactory(tenant=tenant, roles=[offboarder])
    db.commit()
    token = issue_token(admin, [Scope.USERS_DISABLE, Scope.JOBS_READ])

    job_ids = []
    for owner in owners:
        response = client.post(f"/users/{owner.id}/offboard", headers=bearer(token))
        assert response.status_code == 202, response.text
        job_ids.append(response.json()["id"])
    start_worker()
    start_worker()
    wait_for(
        lambda: all(job.status in FINISHED for job in jobs_of(db, job_ids)),
        timeout=60,
        what="both offboarding jobs",
    )

    jobs = {job.status: job for job in jobs_of(db, job_ids)}
    assert set(jobs) == {JobStatus.SUCCEEDED, JobStatus.FAILED}
    refused = client.get(f"/jobs/{jobs[JobStatus.FAILED].id}", headers=bearer(token)).json()
    assert "owner" in refused["error"]
    assert refused["result"] is None
    db.expire_all()
    statuses = {db.get_one(User, (tenant.id, owner.id)).status for owner in owners}
    assert statuses == {UserStatus.ACTIVE, UserStatus.DISABLED}
