"""The worker's and beat's observability, wired through Celery's signals.

- logs: Celery leaves logging alone once `setup_logging` has a receiver; ours makes
  them the same JSON lines as the API's;
- request id: the API puts the id of the request that asked for a job into the task's
  headers (`task_headers`); while the task runs it is the current request id again, so
  the worker's log lines and the audit rows the job writes carry it, and so does any
  task it sends (a retry of itself);
- metrics: each task's run time by name and final state, served on
  TESSERA_WORKER_METRICS_PORT by the worker's main process.
"""

import time
from contextvars import Token
from typing import Any

from celery import Task, signals

from backend.observability import metrics
from backend.observability.logging import configure_logging
from backend.request_context import RequestContext, current_request
from backend.settings import get_settings

REQUEST_ID_HEADER = "tessera_request_id"
_MAX_ID_LENGTH = 64

# task id -> (start time, the context token to reset); one entry per running task.
_running: dict[str, tuple[float, Token[RequestContext | None] | None]] = {}


def task_headers() -> dict[str, str]:
    """Headers for a task sent now: the current request's id, if inside a request."""
    context = current_request.get()
    return {REQUEST_ID_HEADER: context.request_id} if context is not None else {}


def _keep_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Tasks sent while a task runs (its own retry, above all) keep its request id."""
    if headers is not None:
        for key, value in task_headers().items():
            headers.setdefault(key, value)


def _setup_logging(**_: Any) -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)


def _serve_metrics(**_: Any) -> None:
    settings = get_settings()
    if settings.worker_metrics_port is not None:
        metrics.serve(settings.worker_metrics_host, settings.worker_metrics_port)


def _task_started(task_id: str, task: Task, **_: Any) -> None:  # type: ignore[type-arg]
    request_id = task.request.get(REQUEST_ID_HEADER)
    token = None
    if isinstance(request_id, str) and 0 < len(request_id) <= _MAX_ID_LENGTH:
        token = current_request.set(RequestContext(request_id=request_id, client_ip=None))
    _running[task_id] = (time.perf_counter(), token)


def _task_finished(task_id: str, task: Task, state: str | None = None, **_: Any) -> None:  # type: ignore[type-arg]
    started, token = _running.pop(task_id, (None, None))
    if token is not None:
        current_request.reset(token)
    if started is not None:
        elapsed = time.perf_counter() - started
        metrics.TASK_DURATION.labels(task.name, state or "UNKNOWN").observe(elapsed)


def install() -> None:
    """Connect the handlers; idempotent (Celery keys receivers by function)."""
    signals.setup_logging.connect(_setup_logging, weak=False)
    signals.worker_init.connect(_serve_metrics, weak=False)
    signals.task_prerun.connect(_task_started, weak=False)
    signals.task_postrun.connect(_task_finished, weak=False)
    signals.before_task_publish.connect(_keep_request_id, weak=False)
