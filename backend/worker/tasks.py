"""Celery tasks: thin wrappers that call services. Names say what they do."""

import base64
import binascii
import json
import logging
import smtplib
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
from backend.mail import render, smtp
from backend.mail.messages import Mail
from backend.observability import worker as observability
from backend.runtime import Runtime
from backend.security.sealing import Purpose, Sealer, UnsealError
from backend.services import job_runner, jobs, password_resets, sweeps
from backend.settings import get_settings
from backend.taskqueue.config import (
    JOB_TASK,
    MAIL_TASK,
    PASSWORD_RESET_TASK,
    REQUEUE_TASK,
    SWEEP_TASK,
)
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


@cache
def queue_sealer() -> Sealer:
    return Sealer.from_settings(get_settings(), Purpose.QUEUED_TASK)


def unseal(envelope: str) -> bytes | None:
    """A sealed task argument opened; None (logged) for one sealed under another key."""
    try:
        return queue_sealer().open(base64.b64decode(envelope, validate=True))
    except (UnsealError, binascii.Error):
        logger.warning("dropped a queued task that opens under no configured encryption key")
        return None


@app.task(
    name=MAIL_TASK,
    autoretry_for=smtp.TRANSIENT_SMTP,
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=10,
)
def send_mail(envelope: str) -> None:
    """Open a sealed mail, render it and hand it to the SMTP server.

    Retried with backoff while the server is unreachable or answers 4xx; a message the
    server refuses for good, or one sealed under another key, is dropped and logged by
    kind only: the recipient and the link (a one-time token) are never logged.
    """
    opened = unseal(envelope)
    if opened is None:
        return
    mail = Mail.from_json(opened)
    settings = get_settings()
    try:
        smtp.send(settings, render.render(mail, settings.mail_sender, settings.public_base_url))
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500:
            raise send_mail.retry(exc=exc) from exc
        logger.warning("the SMTP server refused a %s mail: %s", mail.kind, exc.smtp_code)
    except smtplib.SMTPRecipientsRefused:
        logger.warning("the SMTP server refused the recipient of a %s mail", mail.kind)


@lifecycle_task(PASSWORD_RESET_TASK)
def request_password_reset(envelope: str) -> None:
    """Answer a sealed password reset request: mail the user a token, if there is one."""
    opened = unseal(envelope)
    if opened is None:
        return
    request = json.loads(opened)
    rt = runtime()
    with unit_of_work(rt.database.sessions) as db:
        password_resets.request(db, rt.effects, str(request["tenant"]), str(request["email"]))
