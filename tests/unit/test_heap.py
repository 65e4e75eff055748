"""The collector settings a started API runs with (backend/heap.py)."""

import gc

from fastapi.testclient import TestClient

from backend.heap import settled_heap
from backend.main import create_app
from backend.settings import Settings


def test_start_up_objects_are_frozen_and_the_threshold_raised_until_the_end() -> None:
    before = gc.get_threshold()
    with settled_heap(12_345):
        assert gc.get_threshold() == (12_345, *before[1:])
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_zero_leaves_the_collector_as_python_set_it() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with settled_heap(0):
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == frozen


def test_a_running_app_has_settled_its_heap(settings: Settings) -> None:
    tuned = settings.model_copy(update={"gc_gen0_threshold": 23_456})
    with TestClient(create_app(tuned)):
        assert gc.get_threshold()[0] == 23_456
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] != 23_456
