"""The Celery application: Redis broker, JSON only, at-least-once delivery.

`celery -A backend.worker.app worker` and `... beat` load `app` from here.
"""

from celery import Celery

from backend.settings import Settings, get_settings


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
        task_time_limit=600,
        task_soft_time_limit=540,
        result_expires=86_400,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        enable_utc=True,
        beat_schedule={},
    )
    return celery


app = create_celery(get_settings())
