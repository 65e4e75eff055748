"""The cyclic garbage collector, tuned for a long-lived server process.

Every request allocates thousands of short-lived objects, and Python's default gen-0
threshold (700 allocations) runs a collection every few requests, each one walking the
young objects, and every few hundred a full collection walks the whole heap: the
modules, routes, schemas and caches built at start-up, none of which will ever be
garbage. Profiled under refresh grants that was ~8-13% of the API's CPU.

So once start-up is done the heap is collected and frozen (`gc.freeze()`: those objects
move to a generation the collector never scans), and the gen-0 threshold is raised.
Reference counting frees almost everything a request makes; the collector is only
needed for cycles, and a higher threshold still collects them, less often.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def settled_heap(gen0_threshold: int) -> Iterator[None]:
    """Freeze what start-up built and raise the gen-0 threshold while the block runs.

    Undone on exit, so a process that builds and stops several apps (the test suite)
    lets the collector reclaim each one's objects. 0 leaves the collector as it was.
    """
    if gen0_threshold == 0:
        yield
        return
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0_threshold, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
