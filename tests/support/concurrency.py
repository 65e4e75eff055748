"""Real, bounded concurrency for tests: one call on each of a few threads, released at once."""

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
JOIN_TIMEOUT_S = 30.0


def all_at_once(threads: int, call: Callable[[], T]) -> list[T]:
    """Run `call` on `threads` threads that a barrier releases together; their results.

    Each thread makes its own request, so the server sees them race on the real
    database (TestClient runs concurrent requests in the app's thread pool). Every wait
    is bounded: a thread still running after JOIN_TIMEOUT_S fails the test.
    """
    barrier = threading.Barrier(threads, timeout=JOIN_TIMEOUT_S)
    results: list[T] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        result = call()
        with lock:
            results.append(result)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=JOIN_TIMEOUT_S)
    assert not any(worker.is_alive() for worker in workers), "a concurrent call hung"
    return results
