from pydantic import SecretStr

from backend.services.sweeps import SWEEPS
from backend.settings import Environment, Settings
from backend.taskqueue.config import SWEEP_TASK, create_celery
from backend.taskqueue.dispatch import create_producer


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"env": Environment.TEST, "secret_key": SecretStr("k" * 40)}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_json_only_and_at_least_once() -> None:
    conf = create_celery(settings(redis_url="redis://127.0.0.1:6379/7")).conf
    assert conf.broker_url == "redis://127.0.0.1:6379/7"
    assert conf.accept_content == ["json"]
    assert conf.task_serializer == "json"
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_time_limit > conf.task_soft_time_limit > 0


def test_every_sweep_is_scheduled_at_its_configured_interval() -> None:
    conf = create_celery(
        settings(sweep_interval_seconds=42, inactivity_sweep_interval_seconds=4242)
    ).conf
    scheduled = {
        entry["args"][0]: entry["schedule"]
        for entry in conf.beat_schedule.values()
        if entry["task"] == SWEEP_TASK
    }
    assert set(scheduled) == set(SWEEPS)
    assert scheduled["disable_inactive_users"] == 4242
    assert {v for k, v in scheduled.items() if k != "disable_inactive_users"} == {42}


def test_redelivery_follows_the_visibility_timeout() -> None:
    options = create_celery(settings(celery_visibility_timeout_seconds=30)).conf
    transport = options.broker_transport_options
    assert transport["visibility_timeout"] == 30
    assert transport["unacked_restore_interval"] <= 10


def test_the_api_never_waits_on_a_dead_broker() -> None:
    transport = create_producer(settings()).conf.broker_transport_options
    assert transport["max_retries"] == 0
