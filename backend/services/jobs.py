"""Tracked lifecycle jobs: created by the API, run by the worker, read by anyone allowed.

The job row is written in the request's transaction and the task is sent only after
that transaction commits, so a worker never looks for a job that does not exist yet.
If the broker is down at that moment, the row stays `queued` and the requeue sweep
sends it again once the broker is back.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from backend.db.models import Job, JobStatus
from backend.db.session import after_commit
from backend.domain.errors import ConflictError, NotFoundError
from backend.domain.jobs import JobKind
from backend.services import audit
from backend.services.effects import Effects
from backend.services.paging import Page, page_of
from backend.services.principals import Principal

# The listing's sort key, newest first.
JobKey = tuple[datetime, uuid.UUID]


@dataclass(frozen=True, slots=True)
class Batch:
    """What one step of a job did: rows changed, and where the next step starts."""

    changed: int
    # The last key this step looked at; None once nothing is left after it.
    after: Any


@dataclass(frozen=True, slots=True)
class JobRun:
    """The job a worker's step works for: its tenant, id, parameters and who asked."""

    tenant_id: uuid.UUID
    job_id: uuid.UUID
    params: dict[str, Any]
    actor: str


def enqueue(
    db: Session,
    effects: Effects,
    actor: Principal,
    kind: JobKind,
    params: dict[str, Any],
    *,
    total: int | None = None,
) -> Job:
    """Record a job and have it dispatched to the worker once this transaction commits."""
    return enqueue_for(db, effects, actor.tenant_id, actor.actor, kind, params, total=total)


def enqueue_for(
    db: Session,
    effects: Effects,
    tenant_id: uuid.UUID,
    actor: str,
    kind: JobKind,
    params: dict[str, Any],
    *,
    total: int | None = None,
) -> Job:
    """`enqueue`, for an actor that is not a principal (the operator's CLI: `system`)."""
    job = Job(
        tenant_id=tenant_id,
        id=uuid.uuid4(),
        kind=kind,
        params=params,
        progress_total=total,
        requested_by=actor,
    )
    db.add(job)
    db.flush()
    audit.record(
        db,
        tenant_id=tenant_id,
        actor=actor,
        action="job.requested",
        target=f"job:{job.id}",
        data={"kind": kind, "params": params},
    )
    _dispatch_after_commit(db, effects, job)
    return job


def resume(
    db: Session, effects: Effects, tenant_id: uuid.UUID, job_id: uuid.UUID, *, actor: str
) -> Job:
    """Send an unfinished job to the worker again, to go on from its last committed batch.

    A failed job is queued again; a queued or running one is sent again (its dispatch
    lost, or its worker gone for good), which is safe since every run does only what is
    still to do. A succeeded job has nothing left: 409.
    """
    job = db.get(Job, (tenant_id, job_id), with_for_update=True)
    if job is None:
        raise NotFoundError("job")
    if job.status is JobStatus.SUCCEEDED:
        raise ConflictError("this job has already succeeded: there is nothing to resume")
    before = job.status.value
    if job.status is JobStatus.FAILED:
        job.status, job.error, job.finished_at = JobStatus.QUEUED, None, None
        db.flush()
    audit.record(
        db,
        tenant_id=tenant_id,
        actor=actor,
        action="job.resumed",
        target=f"job:{job.id}",
        data={"kind": job.kind, "before": {"status": before}},
    )
    _dispatch_after_commit(db, effects, job)
    return job


def _dispatch_after_commit(db: Session, effects: Effects, job: Job) -> None:
    tenant_id, job_id = job.tenant_id, job.id
    after_commit(db, lambda: effects.dispatch(tenant_id, job_id))


def get(db: Session, tenant_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    job = db.get(Job, (tenant_id, job_id))
    if job is None:
        raise NotFoundError("job")
    return job


def list_jobs(
    db: Session, tenant_id: uuid.UUID, *, limit: int, after: JobKey | None
) -> Page[Job, JobKey]:
    """A page of the tenant's jobs, newest first by (created_at, id), after the key `after`."""
    query = select(Job).where(Job.tenant_id == tenant_id)
    if after is not None:
        query = query.where(tuple_(Job.created_at, Job.id) < tuple_(*after))
    query = query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)
    return page_of(list(db.scalars(query)), limit, lambda job: (job.created_at, job.id))


def stalled(db: Session, older_than: datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Jobs still queued long after they were asked for: their dispatch was lost."""
    return [
        (tenant_id, job_id)
        for tenant_id, job_id in db.execute(
            select(Job.tenant_id, Job.id).where(
                Job.status == JobStatus.QUEUED, Job.created_at < older_than
            )
        )
    ]
