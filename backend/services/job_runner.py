"""Running a tracked job to completion, a bounded batch per transaction.

Safe to run twice for the same job (a task redelivered after its worker died): every
step changes only what is still to do, progress is added per committed batch, and a
finished job is left alone. Errors the worker should retry (the database or Redis
briefly gone) propagate; anything else marks the job failed with its reason: a rule
that refuses the work when it runs (the owner rule) with the refusal's own words.
"""

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Job, JobStatus
from backend.db.session import unit_of_work
from backend.db.tenant_context import enter_tenant
from backend.domain.errors import DomainError
from backend.domain.jobs import JobKind
from backend.services import offboarding, user_import
from backend.services.effects import Effects
from backend.services.jobs import Batch, JobRun

logger = logging.getLogger(__name__)

# (db, effects, job, chunk, after) -> the batch: rows changed, and the last key it looked
# at (None once nothing is left), which the next batch starts after.
Step = Callable[[Session, Effects, JobRun, int, Any], Batch]
# (db, job, done) -> the job's result once it has finished.
Summary = Callable[[Session, JobRun, int], dict[str, Any]]


def _bulk(*, offboard: bool, counted: str) -> tuple[Step, Summary]:
    """A bulk job's step and summary: disable, or with `offboard`, offboard."""

    def step(db: Session, effects: Effects, job: JobRun, chunk: int, after: Any) -> Batch:
        return offboarding.bulk_step(
            db,
            effects,
            job.tenant_id,
            job.params,
            actor=job.actor,
            chunk=chunk,
            after=after,
            offboard=offboard,
        )

    def summary(db: Session, job: JobRun, done: int) -> dict[str, Any]:
        return {
            counted: done,
            "skipped_owners": offboarding.skipped_owners(db, job.tenant_id, job.params),
        }

    return step, summary


def _offboard(db: Session, effects: Effects, job: JobRun, chunk: int, after: Any) -> Batch:
    user_id = uuid.UUID(job.params["user_id"])
    changed = offboarding.offboard_step(db, effects, job.tenant_id, user_id, actor=job.actor)
    return Batch(changed, None)


def _offboard_summary(db: Session, job: JobRun, done: int) -> dict[str, Any]:
    return {"user_id": job.params["user_id"], "offboarded": True}


KINDS: dict[JobKind, tuple[Step, Summary]] = {
    JobKind.BULK_DISABLE: _bulk(offboard=False, counted="disabled"),
    JobKind.BULK_OFFBOARD: _bulk(offboard=True, counted="offboarded"),
    JobKind.OFFBOARD: (_offboard, _offboard_summary),
    JobKind.IMPORT_USERS: (user_import.step, user_import.summary),
}

TRANSIENT: tuple[type[Exception], ...] = (OperationalError,)


def run(
    sessions: sessionmaker[Session],
    effects: Effects,
    tenant_id: uuid.UUID,
    job_id: uuid.UUID,
    *,
    chunk: int,
) -> None:
    """Run the job until its step reports nothing left, then record the result."""
    with unit_of_work(sessions) as db:
        enter_tenant(db, tenant_id)
        job = db.get(Job, (tenant_id, job_id), with_for_update=True)
        if job is None or job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            return
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or datetime.now(UTC)
        job.attempts += 1
        kind, work = job.kind, JobRun(tenant_id, job_id, dict(job.params), job.requested_by)
    try:
        step, summary = KINDS[JobKind(kind)]
        # A rerun (redelivery) starts from the first key again: what was done is skipped
        # in one pass, and every batch after that goes on from where the last one ended.
        after: Any = None
        while True:
            with unit_of_work(sessions) as db:
                enter_tenant(db, tenant_id)
                batch = step(db, effects, work, chunk, after)
                if batch.changed:
                    db.execute(
                        update(Job)
                        .where(Job.tenant_id == tenant_id, Job.id == job_id)
                        .values(progress_done=Job.progress_done + batch.changed)
                    )
            if batch.after is None:
                break
            after = batch.after
        with unit_of_work(sessions) as db:
            enter_tenant(db, tenant_id)
            job = db.get_one(Job, (tenant_id, job_id))
            job.result = summary(db, work, job.progress_done)
            job.status = JobStatus.SUCCEEDED
            job.finished_at = datetime.now(UTC)
    except TRANSIENT:
        raise
    except DomainError as exc:
        # A rule refused the work when it ran (an offboarding that would take the
        # tenant's last owner, say): not a crash, and the reason is the job's error.
        logger.info("job %s (%s) refused: %s", job_id, kind, exc)
        _fail(sessions, tenant_id, job_id, str(exc))
    except Exception as exc:
        logger.exception("job %s (%s) failed", job_id, kind)
        _fail(sessions, tenant_id, job_id, f"{type(exc).__name__}: {exc}")


def _fail(
    sessions: sessionmaker[Session], tenant_id: uuid.UUID, job_id: uuid.UUID, error: str
) -> None:
    with unit_of_work(sessions) as db:
        enter_tenant(db, tenant_id)
        job = db.get_one(Job, (tenant_id, job_id))
        job.status = JobStatus.FAILED
        job.error = error[:2000]
        job.finished_at = datetime.now(UTC)
