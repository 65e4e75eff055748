"""Request count and latency per method, route template and status.

The labelled series are looked up once per combination and kept: prometheus_client's
`labels()` takes a lock, joins and hashes the label values on every call, which at a few
thousand requests a second was a measurable share of a bare request. The combinations
are bounded (known methods, the app's route templates, status codes).
"""

from prometheus_client.metrics import Counter, Histogram
from starlette.types import Scope

from backend.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS

# Paths that matched no route share one label: a scanner trying a million paths must
# not make a million series.
UNMATCHED = "unmatched"
# Clients may send any method token; the rest are counted as one.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """Counts and times answered requests; one per app (its middleware holds it)."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        """Record one request, after its response; the route is read from the scope,
        where FastAPI leaves the matched route."""
        method = scope["method"]
        if method not in _METHODS:
            method = "OTHER"
        key = (method, getattr(scope.get("route"), "path", UNMATCHED), status)
        series = self._series.get(key)
        if series is None:
            labels = (key[0], key[1], str(status))
            series = (HTTP_REQUESTS.labels(*labels), HTTP_LATENCY.labels(*labels))
            self._series[key] = series
        series[0].inc()
        series[1].observe(seconds)
