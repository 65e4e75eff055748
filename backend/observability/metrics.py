"""Prometheus metrics: what Tessera counts, and how a process exposes them.

Labels are bounded on purpose: a route is its template (`/users/{id}`), never the raw
path, and outcomes are short fixed words, so the number of series does not grow with
traffic. With several processes behind one port (uvicorn `--workers N`, Celery's
prefork pool), set PROMETHEUS_MULTIPROC_DIR to an empty directory before the process
starts (deploy/entrypoint.sh does); every process then writes there and a scrape adds
them up.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

from backend.domain.errors import AuthenticationError, DomainError, RefreshTokenReuseError

HTTP_REQUESTS = Counter(
    "tessera_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "tessera_http_request_duration_seconds",
    "Time from request to the end of the response, by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
LOGINS = Counter(
    "tessera_logins_total",
    "Password grants, by outcome: success or the OAuth2 error code.",
    ["outcome"],
)
REFRESHES = Counter(
    "tessera_token_refreshes_total",
    "Refresh token grants, by outcome: success, reuse_detected or the OAuth2 error code.",
    ["outcome"],
)
REUSE_DETECTIONS = Counter(
    "tessera_refresh_token_reuse_detected_total",
    "Rotated refresh tokens presented again; each revoked a whole session.",
)
TASK_DURATION = Histogram(
    "tessera_task_duration_seconds",
    "Worker task run time (lifecycle jobs, sweeps), by task name and final state.",
    ["task", "state"],
    buckets=(0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0),
)

_GRANTS = {"password": LOGINS, "refresh_token": REFRESHES}
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def count_grant(grant_type: str | None) -> Iterator[None]:
    """Count a password or refresh grant by how it ended; other grants are not counted."""
    counter = _GRANTS.get(grant_type or "")
    if counter is None:
        yield
        return
    try:
        yield
    except RefreshTokenReuseError:
        counter.labels(outcome="reuse_detected").inc()
        REUSE_DETECTIONS.inc()
        raise
    except AuthenticationError as exc:
        counter.labels(outcome=exc.code).inc()
        raise
    except DomainError:
        counter.labels(outcome="refused").inc()
        raise
    counter.labels(outcome="success").inc()


def _registry() -> CollectorRegistry:
    if os.environ.get(MULTIPROCESS_ENV):
        # A fresh registry per scrape that reads every process's files.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def render() -> tuple[bytes, str]:
    """The text exposition of this process's (or process group's) metrics."""
    return generate_latest(_registry()), CONTENT_TYPE_LATEST


def serve(host: str, port: int) -> None:
    """Expose the metrics on their own port, from a daemon thread (the worker's way)."""
    start_http_server(port, addr=host, registry=_registry())
