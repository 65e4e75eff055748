from datetime import timedelta

import pytest

from backend.domain.policy import (
    DEFAULT_LOCKOUT_MINUTES,
    DEFAULT_LOCKOUT_THRESHOLD,
    DEFAULT_MIN_PASSWORD_LENGTH,
    TenantPolicy,
)

DEFAULTS = TenantPolicy(DEFAULT_LOCKOUT_THRESHOLD, DEFAULT_LOCKOUT_MINUTES)


@pytest.mark.parametrize("raw", [None, {}, {"some_future_key": 90}])
def test_missing_keys_take_the_defaults(raw: dict[str, object] | None) -> None:
    assert TenantPolicy.from_json(raw) == DEFAULTS == TenantPolicy()
    # NIST SP 800-63B-4 §3.2.2: at most 100 failures in a row, slowed down before that.
    assert (DEFAULTS.lockout_threshold, DEFAULTS.lockout_minutes) == (100, 15)
    assert (DEFAULTS.throttle_after, DEFAULTS.throttle_seconds) == (5, 30)
    assert DEFAULTS.password_min_length == DEFAULT_MIN_PASSWORD_LENGTH == 12


def test_stored_values_are_read() -> None:
    policy = TenantPolicy.from_json({"lockout_threshold": 3, "lockout_minutes": 60})
    assert policy == TenantPolicy(lockout_threshold=3, lockout_minutes=60)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"lockout_threshold": 0}, TenantPolicy(1, DEFAULT_LOCKOUT_MINUTES)),
        ({"lockout_threshold": -4}, TenantPolicy(1, DEFAULT_LOCKOUT_MINUTES)),
        ({"lockout_threshold": 10_000}, TenantPolicy(100, DEFAULT_LOCKOUT_MINUTES)),
        ({"lockout_minutes": 0}, TenantPolicy(DEFAULT_LOCKOUT_THRESHOLD, 1)),
        ({"lockout_minutes": 10**9}, TenantPolicy(DEFAULT_LOCKOUT_THRESHOLD, 24 * 60)),
    ],
    ids=["zero-threshold", "negative", "huge-threshold", "zero-minutes", "huge-minutes"],
)
def test_out_of_range_values_are_clamped(raw: dict[str, object], expected: TenantPolicy) -> None:
    assert TenantPolicy.from_json(raw) == expected


@pytest.mark.parametrize("bad", ["3", 3.5, True, None, [3], {"n": 3}])
def test_malformed_values_take_the_defaults(bad: object) -> None:
    policy = TenantPolicy.from_json({"lockout_threshold": bad, "lockout_minutes": bad})
    assert policy == DEFAULTS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(16, 16), (8, 8), (4, 8), (0, 8), (10_000, 128), ("20", 12), (True, 12), (None, 12)],
)
def test_password_min_length_is_read_clamped_to_8_to_128(raw: object, expected: int) -> None:
    assert TenantPolicy.from_json({"password_min_length": raw}).password_min_length == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, None),
        ({"inactivity_days": 30}, 30),
        ({"inactivity_days": 0}, 1),
        ({"inactivity_days": "x"}, 90),
    ],
)
def test_inactivity_days_is_off_unless_set(raw: dict[str, object], expected: int | None) -> None:
    assert TenantPolicy.from_json(raw).inactivity_days == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"throttle_after": 2, "throttle_seconds": 10}, (2, 10)),
        ({"throttle_after": 0, "throttle_seconds": 0}, (1, 1)),
        ({"throttle_after": 10_000, "throttle_seconds": 10**9}, (100, 3600)),
        ({"throttle_after": "2", "throttle_seconds": True}, (5, 30)),
    ],
    ids=["set", "clamped-low", "clamped-high", "malformed"],
)
def test_throttle_keys_are_read_clamped(raw: dict[str, object], expected: tuple[int, int]) -> None:
    policy = TenantPolicy.from_json(raw)
    assert (policy.throttle_after, policy.throttle_seconds) == expected


def test_the_defaults_pause_from_the_fifth_failure_doubling_to_the_lock() -> None:
    pauses = {n: DEFAULTS.pause_after(n) for n in (1, 4, 5, 6, 7, 9, 10, 99, 100, 250)}
    assert pauses == {
        1: None,
        4: None,
        5: timedelta(seconds=30),
        6: timedelta(seconds=60),
        7: timedelta(seconds=120),
        9: timedelta(seconds=480),
        # Capped at the lock's time: a pause never outlasts the lock.
        10: timedelta(minutes=15),
        99: timedelta(minutes=15),
        100: timedelta(minutes=15),
        250: timedelta(minutes=15),
    }
    assert [DEFAULTS.locks_at(n) for n in (99, 100, 101)] == [False, True, True]


def test_a_throttle_at_or_past_the_threshold_never_starts() -> None:
    policy = TenantPolicy(lockout_threshold=3, lockout_minutes=60, throttle_after=5)
    assert [policy.pause_after(n) for n in (1, 2)] == [None, None]
    assert policy.pause_after(3) == timedelta(minutes=60)
    assert policy.locks_at(3)


def test_a_long_run_of_failures_stays_at_the_cap() -> None:
    policy = TenantPolicy(lockout_threshold=100, lockout_minutes=24 * 60, throttle_after=1)
    assert policy.pause_after(99) == timedelta(hours=24)
