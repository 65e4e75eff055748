import json
import logging
import sys

from backend.observability.logging import JsonFormatter, TextFormatter, redact
from backend.request_context import RequestContext, current_request

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXBhcnQ"
REFRESH = "rt_" + "0123456789abcdef" * 2 + "_" + "A" * 43


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("tessera.test", logging.INFO, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_a_record_is_one_json_object_with_the_request_id() -> None:
    token = current_request.set(RequestContext(request_id="req-1", client_ip=None))
    try:
        line = JsonFormatter().format(record("job %s done", "j1", job_kind="bulk_disable"))
    finally:
        current_request.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "job j1 done"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "tessera.test"
    assert entry["request_id"] == "req-1"
    assert entry["job_kind"] == "bulk_disable"
    assert entry["ts"].endswith("+00:00")
    assert "\n" not in line


def test_outside_a_request_there_is_no_request_id() -> None:
    assert "request_id" not in json.loads(JsonFormatter().format(record("idle")))


def test_exceptions_are_kept_in_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        failed = record("failed")
        failed.exc_info = sys.exc_info()
    line = JsonFormatter().format(failed)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_token_shaped_text_is_redacted_in_message_extras_and_text() -> None:
    assert redact(f"Bearer {JWT} and {REFRESH}!") == "Bearer [redacted] and [redacted]!"
    entry = json.loads(JsonFormatter().format(record("got %s", JWT, header=f"Bearer {JWT}")))
    assert JWT not in json.dumps(entry)
    assert REFRESH not in TextFormatter().format(record("token %s", REFRESH))


def test_ordinary_text_is_left_alone() -> None:
    text = "user 6f1c2a1e-5c1b-4c61-9d9f-1b2c3d4e5f60 disabled (rt_abc, eyJ)"
    assert redact(text) == text
