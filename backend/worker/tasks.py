"""Celery tasks: thin wrappers that call services. Names say what they do."""

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import ParamSpec, TypeVar

import redis
from celery import Task
from sqlalchemy.exc import OperationalError

from backend.db.session import unit_of_work
from backend.db.tenant_context import enter_tenant
from backend.observability import worker as observability
from backend.runtime import Runtime
from backend.services import job_runner, jobs, sweeps
from backend.settings import get_settings
from backend.taskqueue.config import JOB_TASK, REQUEUE_TASK, SWEEP_TASK
from backend.worker.app import app

logger = logging.getLogger(__name__)
# The worker and beat import this module before they configure logging, so this is
# where their JSON logs, request ids and task metrics are wired in.
observability.install()
P = ParamSpec("P")
R = TypeVar("R")

# The database or Redis briefly gone: retried with exponential backoff.
TRANSIENT: tuple[type[Exception], ...] = (OperationalError, redis.RedisError)


def lifecycle_task(name: str) -> Callable[[Callable[P, R]], "Task[P, R]"]:
    """A task retried with exponential backoff (up to 5 min apart) on transient errors."""
    return app.task(
        name=name,
        autoretry_for=TRANSIENT,
        retry_backoff=True,
        retry_backoff_max=300,
        retry_jitter=True,
        max_retries=12,
    )


# A queued job this old has lost its dispatch (the broker was down): send it again.
STALLED_AFTER = timedelta(seconds=60)


@cache
def runtime() -> Runtime:
    """One per worker process, made on first use: after the prefork, not before."""
    return Runtime.from_settings(get_settings())


@lifecycle_task(JOB_TASK)
def run_job(tenant_id: str, job_id: str) -> None:
    """Run one tracked job (offboard, bulk disable) to completion."""
    rt = runtime()
    job_runner.run(
        rt.database.sessions,
        rt.effects,
        uuid.UUID(tenant_id),
        uuid.UUID(job_id),
        chunk=rt.settings.job_chunk_size,
    )


@lifecycle_task(SWEEP_TASK)
def run_sweep(name: str) -> int:
    """One scheduled sweep over every tenant; returns the rows it changed."""
    rt = runtime()
    changed = sweeps.run(rt.database.sessions, rt.effects, name, chunk=rt.settings.job_chunk_size)
    logger.info("sweep %s changed %d rows", name, changed)
    return changed


@lifecycle_task(REQUEUE_TASK)
def requeue_stalled_jobs() -> int:
    """Send again every job still queued long after it was asked for."""
    rt = runtime()
    older_than = datetime.now(UTC) - STALLED_AFTER
    sent = 0
    for tenant_id in sweeps.tenant_ids(rt.database.sessions):
        with unit_of_work(rt.database.sessions) as db:
            enter_tenant(db, tenant_id)
            stalled = jobs.stalled(db, older_than)
        for stalled_tenant, job_id in stalled:
            run_job.delay(str(stalled_tenant), str(job_id))
            sent += 1
    return sent
