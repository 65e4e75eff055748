"""The request id's trip through Celery: into a task's headers, back while it runs."""

from types import SimpleNamespace
from typing import Any

from celery import signals

from backend.observability import worker
from backend.request_context import RequestContext, current_request


class _Task:
    """What the handlers read of a Celery task: its name and its request's headers."""

    name = "tessera.jobs.run"

    def __init__(self, headers: dict[str, Any]) -> None:
        self.request = SimpleNamespace(get=headers.get)


def _task(**headers: Any) -> Any:
    return _Task(headers)


def test_headers_carry_the_current_request_id_and_nothing_outside_a_request() -> None:
    assert worker.task_headers() == {}
    token = current_request.set(RequestContext(request_id="req-7", client_ip="10.0.0.1"))
    try:
        assert worker.task_headers() == {worker.REQUEST_ID_HEADER: "req-7"}
    finally:
        current_request.reset(token)


def test_a_running_task_has_its_request_id_and_its_retries_keep_it() -> None:
    worker.install()
    task = _task(**{worker.REQUEST_ID_HEADER: "req-8"})
    signals.task_prerun.send(sender=task, task_id="t1", task=task, args=(), kwargs={})
    try:
        context = current_request.get()
        assert context is not None
        assert context.request_id == "req-8"
        assert context.client_ip is None
        retry_headers: dict[str, Any] = {"id": "t2"}
        signals.before_task_publish.send(sender="tessera.jobs.run", headers=retry_headers)
        assert retry_headers[worker.REQUEST_ID_HEADER] == "req-8"
    finally:
        signals.task_postrun.send(sender=task, task_id="t1", task=task, state="SUCCESS")
    assert current_request.get() is None


def test_an_implausible_header_is_ignored() -> None:
    worker.install()
    task = _task(**{worker.REQUEST_ID_HEADER: "x" * 500})
    signals.task_prerun.send(sender=task, task_id="t3", task=task, args=(), kwargs={})
    try:
        assert current_request.get() is None
    finally:
        signals.task_postrun.send(sender=task, task_id="t3", task=task, state="SUCCESS")
