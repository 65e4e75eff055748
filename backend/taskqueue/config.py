"""Celery configuration: Redis broker, JSON only, at-least-once delivery.

Both sides of the queue are built from it, with the same settings, so they cannot
disagree on names or transport options: the worker's app (backend/worker/app.py) and
the sender the API, the CLI and the worker use to enqueue (taskqueue/dispatch.py).
"""

from celery import Celery

from backend.settings import Settings

SWEEP_TASK = "tessera.sweeps.run"
JOB_TASK = "tessera.jobs.run"
REQUEUE_TASK = "tessera.jobs.requeue_stalled"
MAIL_TASK = "tessera.mail.send"
PASSWORD_RESET_TASK = "tessera.password_resets.request"  # noqa: S105 (a task name)


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
        "purge_authorization_codes",
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
