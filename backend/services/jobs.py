"""Tracked lifecycle jobs: created by the API, run by the worker, read by anyone allowed.

The job row is written in the request's transaction and the task is sent only after
that transaction commits, so a worker never looks for a job that does not exist yet.
If the broker is down at that moment, the row stays `queued` and the requeue sweep
sends it again once the broker is back.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from backend.db.models import Job, JobStatus
from backend.db.session import after_commit
from backend.domain.errors import NotFoundError
from backend.services import audit
from backend.services.effects import Effects
from backend.services.principals import Principal


def enqueue(
    db: Session,
    effects: Effects,
    actor: Principal,
    kind: str,
    params: dict[str, Any],
    *,
    total: int | None = None,
) -> Job:
    """Record a job and have it dispatched to the worker once this transaction commits."""
    job = Job(
        tenant_id=actor.tenant_id,
        id=uuid.uuid4(),
        kind=kind,
        params=params,
        progress_total=total,
        requested_by=actor.actor,
    )
    db.add(job)
    db.flush()
    audit.record(
        db,
        tenant_id=actor.tenant_id,
        actor=actor.actor,
        action="job.requested",
        target=f"job:{job.id}",
        data={"kind": kind, "params": params},
    )
    after_commit(db, lambda: effects.dispatch(job.tenant_id, job.id))
    return job


def get(db: Session, tenant_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    job = db.get(Job, (tenant_id, job_id))
    if job is None:
        raise NotFoundError("job")
    return job


def list_jobs(
    db: Session, tenant_id: uuid.UUID, *, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[Job]:
    """Newest first, keyset-paginated on (created_at, id)."""
    query = select(Job).where(Job.tenant_id == tenant_id)
    if after is not None:
        query = query.where(tuple_(Job.created_at, Job.id) < tuple_(*after))
    return list(db.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)))


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
