"""The sending side of the queue: what enqueues a job's task once its row is committed.

Built into every process's Runtime (the API's, the CLI's, the worker's) and handed to
services as `Effects.dispatch`; the worker package itself is never imported for it.
"""

import base64
import json
import logging
import uuid
from collections.abc import Callable

from celery import Celery
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from backend.mail.messages import Mail
from backend.observability.worker import task_headers
from backend.security.sealing import Sealer
from backend.settings import Settings
from backend.taskqueue.config import JOB_TASK, MAIL_TASK, PASSWORD_RESET_TASK, create_celery

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


class SealedQueue:
    """Tasks whose arguments are personal data or secrets, sealed for the worker alone.

    A mail may carry a one-time token (a reset link), a reset request names an email:
    nothing on the way, Redis or a log of a task's arguments, holds them readable. With
    the broker down the task is lost and said so (by kind only): the user asks again.
    """

    def __init__(self, celery: Celery, sealer: Sealer) -> None:
        self._celery, self._sealer = celery, sealer

    def mail(self, mail: Mail) -> None:
        """The mailer of `Effects`: queue `mail` for the worker to send."""
        self._send(MAIL_TASK, mail.to_json(), f"a {mail.kind} mail")

    def password_reset(self, tenant_slug: str, email: str) -> None:
        """Queue a reset request for the worker to look up and answer by mail."""
        payload = json.dumps({"tenant": tenant_slug, "email": email}).encode()
        self._send(PASSWORD_RESET_TASK, payload, "a password reset request")

    def _send(self, task: str, payload: bytes, what: str) -> None:
        envelope = base64.b64encode(self._sealer.seal(payload)).decode("ascii")
        try:
            self._celery.send_task(
                task, args=[envelope], retry=False, ignore_result=True, headers=task_headers()
            )
        except (KombuError, RedisError, OSError) as exc:
            logger.warning("%s was not queued (%s)", what, exc)
