"""Celery configuration: Redis broker, JSON only, at-least-once delivery.

The worker's app (backend/worker/app.py) and the API's task sender are built here
from the same settings, so they cannot disagree on names or transport options.
"""

import logging
import uuid
from collections.abc import Callable

from celery import Celery
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from backend.observability.worker import task_headers
from backend.settings import Settings

logger = logging.getLogger(__name__)

SWEEP_TASK = "tessera.sweeps.run"
JOB_TASK = "tessera.jobs.run"
REQUEUE_TASK = "tessera.jobs.requeue_stalled"


def create_celery(settings: Settings) -> Celery:
    celery = Celery("tessera", broker=settings.redis_url, backend=settings.redis_url)
    celery.conf.update(
        # JSON only: pickle would let whoever reaches Redis run code in the worker.
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # Acknowledge after the task ran, and requeue if the worker dies mid-task:
        # tasks are idempotent, so at-least-once is safe and nothing is lost.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # A task taken by a worker that then died is handed out again after this long.
        # Abandoned tasks are looked for every few seconds (kombu's default is about
        # every 100 s), so redelivery follows the visibility timeout closely.
        broker_transport_options={
            "visibility_timeout": settings.celery_visibility_timeout_seconds,
            "unacked_restore_interval": max(
                1, min(10, settings.celery_visibility_timeout_seconds // 3)
            ),
            "unacked_restore_throttle": 1,
        },
        task_time_limit=3600,
        task_soft_time_limit=3540,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # With REMAP_SIGTERM=SIGQUIT (deploy/entrypoint.sh), SIGTERM waits this long for
        # running tasks, then requeues the unfinished ones: jobs resume where their last
        # committed batch stopped, on another worker.
        worker_soft_shutdown_timeout=settings.worker_soft_shutdown_seconds,
        timezone="UTC",
        enable_utc=True,
        include=["backend.worker.tasks"],
        beat_schedule=beat_schedule(settings),
    )
    return celery


def beat_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    """The sweeps and how often they run; the schedule lives in code, intervals in settings."""
    frequent = {
        "expire_sessions",
        "purge_refresh_tokens",
        "expire_role_grants",
        "lift_lockouts",
    }
    schedule: dict[str, dict[str, object]] = {
        f"sweep-{name}": {
            "task": SWEEP_TASK,
            "schedule": float(settings.sweep_interval_seconds),
            "args": (name,),
        }
        for name in sorted(frequent)
    }
    schedule["sweep-disable_inactive_users"] = {
        "task": SWEEP_TASK,
        "schedule": float(settings.inactivity_sweep_interval_seconds),
        "args": ("disable_inactive_users",),
    }
    schedule["requeue-stalled-jobs"] = {"task": REQUEUE_TASK, "schedule": 60.0}
    return schedule


def create_producer(settings: Settings) -> Celery:
    """The API's sender: like the worker's app, but it never waits on a dead broker.

    Sending happens inside a request; with Redis down it must fail in milliseconds
    (the job row stays queued and is requeued later), not retry for seconds.
    """
    celery = create_celery(settings)
    celery.conf.broker_transport_options = {
        **celery.conf.broker_transport_options,
        "max_retries": 0,
        "interval_start": 0,
        "interval_step": 0,
    }
    return celery


def send_job(celery: Celery) -> Callable[[uuid.UUID, uuid.UUID], None]:
    """A job dispatcher for services: sends the job's task, never blocks on a dead broker.

    If Redis is unreachable the job row simply stays queued; the requeue sweep sends it
    once Redis is back.
    """

    def dispatch(tenant_id: uuid.UUID, job_id: uuid.UUID) -> None:
        try:
            celery.send_task(
                JOB_TASK,
                args=[str(tenant_id), str(job_id)],
                retry=False,
                ignore_result=True,
                # The asking request's id: the worker's logs and the job's audit rows keep it.
                headers=task_headers(),
            )
        except (KombuError, RedisError, OSError) as exc:
            logger.warning("job %s not dispatched (%s); it will be requeued", job_id, exc)

    return dispatch
