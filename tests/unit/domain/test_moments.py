from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.domain.errors import InvalidRequestError
from backend.domain.moments import (
    MAX_EXPIRY_AHEAD,
    ExpiryTooFarError,
    InvalidMomentError,
    in_utc,
    parse_moment,
    require_expiry,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-31T12:00:00Z", datetime(2030, 1, 31, 12, tzinfo=UTC)),
        ("2030-01-31t12:00:00z", datetime(2030, 1, 31, 12, tzinfo=UTC)),
        ("2030-01-31 14:00:00+02:00", datetime(2030, 1, 31, 12, tzinfo=UTC)),
        ("2030-01-31T00:00:00-00:00", datetime(2030, 1, 31, tzinfo=UTC)),
        ("2030-01-31T12:00:00.5Z", datetime(2030, 1, 31, 12, 0, 0, 500_000, tzinfo=UTC)),
        # Nanoseconds (Go's RFC3339Nano) are cut to the microsecond, never rounded up.
        ("2030-01-31T12:00:00.123456789Z", datetime(2030, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("0001-01-01T23:59:00+23:59", datetime(1, 1, 1, tzinfo=UTC)),
        ("9999-12-31T23:59:59.999999Z", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("9999-12-31T00:00:00-14:00", datetime(9999, 12, 31, 14, tzinfo=UTC)),
        ("2028-02-29T00:00:00Z", datetime(2028, 2, 29, tzinfo=UTC)),
    ],
)
def test_rfc_3339_date_times_are_read_in_utc(text: str, expected: datetime) -> None:
    moment = parse_moment(text)
    assert moment == expected
    assert moment.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # The case: year 10000 once in UTC.
        ("9999-12-31T23:59:59-14:00", "years 1 to 9999"),
        ("0001-01-01T00:00:00+14:00", "years 1 to 9999"),
        ("0000-12-31T23:59:59Z", "not a valid date-time"),
        ("10000-01-01T00:00:00Z", "RFC 3339"),
        ("2030-06-30T23:59:60Z", "leap second"),
        ("2030-01-01T00:00:00+24:00", "offset"),
        ("2030-01-01T00:00:00+05:60", "offset"),
        ("2030-01-01T00:00:00", "time zone"),
        ("2030-01-01", "RFC 3339"),
        ("2030-02-30T00:00:00Z", "day is out of range"),
        ("2030-13-01T00:00:00Z", "month must be in 1..12"),
        ("2030-01-01T24:00:00Z", "hour must be in 0..23"),
        ("2030-01-01T00:00Z", "RFC 3339"),
        ("20300101T000000Z", "RFC 3339"),
        ("2030-W01-1T00:00:00Z", "RFC 3339"),
        ("1700000000", "RFC 3339"),
        ("now", "RFC 3339"),
        ("infinity", "RFC 3339"),
        ("", "RFC 3339"),
        ("2030-01-01T00:00:00\x00Z", "RFC 3339"),
        ("2030-01-01T00:00:00Z\n", "RFC 3339"),
        # Digits of other scripts are digits to Python's int(), not to RFC 3339.
        ("٢٠٣٠-01-01T00:00:00Z", "RFC 3339"),
        ("2030-01-01T00:00:00.1234567891Z", "RFC 3339"),
        ("2030-01-01T00:00:00Z" + " " * 40, "at most 40 characters"),
        # What a URL query leaves of an unescaped '+'.
        ("2030-01-01T00:00:00 02:00", "%2B"),
    ],
)
def test_anything_else_is_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidMomentError, match=reason):
        parse_moment(text)


@given(st.datetimes(timezones=st.just(UTC)), st.integers(-23 * 60 - 59, 23 * 60 + 59))
def test_whatever_python_writes_in_range_reads_back_the_same(
    moment: datetime, offset_minutes: int
) -> None:
    zone = timezone(timedelta(minutes=offset_minutes))
    try:
        local = moment.astimezone(zone)
    except OverflowError:
        return
    assert parse_moment(local.isoformat()) == moment


def test_a_naive_or_unrepresentable_datetime_object_is_refused() -> None:
    with pytest.raises(InvalidMomentError, match="time zone"):
        in_utc(datetime(2030, 1, 1))
    far = datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-14)))
    with pytest.raises(InvalidMomentError, match="years 1 to 9999"):
        in_utc(far)


def test_an_expiry_is_in_the_future_and_at_most_ten_years_ahead() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    require_expiry(now + timedelta(microseconds=1), now)
    require_expiry(now + MAX_EXPIRY_AHEAD, now)
    with pytest.raises(InvalidRequestError, match="in the future"):
        require_expiry(now, now)
    with pytest.raises(ExpiryTooFarError, match="10 years"):
        require_expiry(now + MAX_EXPIRY_AHEAD + timedelta(microseconds=1), now)
    assert MAX_EXPIRY_AHEAD >= datetime(2040, 1, 1, tzinfo=UTC) - now
