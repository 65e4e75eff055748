"""Waiting on a running app's principal cache: subscribed, or a message applied."""

import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from backend.security.principal_cache import PrincipalCache

# Long enough for a message to cross Redis on a loaded machine; a bound, not a timing.
DELIVERY_DEADLINE_S = 10.0


def app_cache(client: TestClient) -> PrincipalCache:
    """The app's principal cache, once it is subscribed (only then does it keep anything)."""
    cache: PrincipalCache = client.app.state.runtime.principal_cache  # type: ignore[attr-defined]
    eventually(lambda: cache.live, "the app subscribed to the cache channel")
    return cache


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DELIVERY_DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)
