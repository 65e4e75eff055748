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
    assert (DEFAULTS.lockout_threshold, DEFAULTS.lockout_minutes) == (5, 15)
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
