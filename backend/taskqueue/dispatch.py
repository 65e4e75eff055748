"""The sending side of the queue: what enqueues a job's task once its row is committed.

Built into every process's Runtime (the API's, the CLI's, the worker's) and handed to
services as `Effects.dispatch`; the worker package itself is never imported for it.
"""

import logging
import uuid
from collections.abc import Callable

from celery import Celery
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from backend.observability.worker import task_headers
from backend.settings import Settings
from backend.taskqueue.config import JOB_TASK, create_celery

logger = logging.getLogger(__name__)


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
    """The job dispatcher of `Effects`: sends the job's task, never blocks on a dead broker.

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
