"""Date-time input: strict RFC 3339, with a time zone, and within what every layer holds.

Left to itself, the API took Unix numbers for dates, times without a zone, and moments
that PostgreSQL stores but Python cannot read back: `9999-12-31T23:59:59-14:00` is in
year 10000 in UTC, so a grant expiring then was accepted and every later read of it
failed. Every date-time the API takes goes through `parse_moment`: an RFC 3339 string
(`2030-01-31T12:00:00Z`, `2030-01-31T14:00:00.5+02:00`) whose UTC reading falls within
Python's years 1 to 9999, returned in UTC. An expiry is held to a nearer horizon too
(`require_expiry`), which keeps stored ones far inside what the database allows
(db/base.py, `readable_expiry`).
"""

import re
from datetime import UTC, datetime, timedelta, timezone

from backend.domain.errors import DomainError, InvalidRequestError

# How far ahead an expiry (of a role grant, of an API key) may be: 10 years, counting
# the leap days any 10 years may hold. Longer is "never", which is null.
MAX_EXPIRY_AHEAD = timedelta(days=3653)
# Longer than any RFC 3339 date-time (35 characters with nanoseconds and an offset).
MAX_LENGTH = 40

_RFC3339 = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"[Tt ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,9}))?"
    r"(?P<zone>[Zz]|(?P<sign>[+-])(?P<zone_hour>[0-9]{2}):(?P<zone_minute>[0-9]{2}))?",
    re.ASCII,
)
# What an offset whose '+' a URL query decoded as a space leaves at the end.
_PLUS_AS_SPACE = re.compile(r":[0-9]{2}(?:\.[0-9]+)? [0-9]{2}:[0-9]{2}$", re.ASCII)
EXAMPLE = "e.g. 2030-01-31T12:00:00Z or 2030-01-31T14:00:00+02:00"
_NO_ZONE = "a date-time needs a time zone: end it with Z, +hh:mm or -hh:mm"


class InvalidMomentError(ValueError):
    """A date-time input that is malformed, without a time zone, or out of range."""


class ExpiryTooFarError(DomainError):
    """An expiry beyond MAX_EXPIRY_AHEAD (answered 422)."""


def parse_moment(text: str) -> datetime:
    """The moment an RFC 3339 date-time names, in UTC; InvalidMomentError otherwise.

    A time zone is required (`Z` or `+hh:mm`/`-hh:mm`). Fractions of a second beyond the
    microsecond are cut off. A leap second (`:60`) is refused: Python, and so every
    later read, cannot hold it.
    """
    if len(text) > MAX_LENGTH:
        raise InvalidMomentError(f"a date-time has at most {MAX_LENGTH} characters")
    match = _RFC3339.fullmatch(text)
    if match is None:
        hint = (
            " (a '+' in a URL query reads as a space: send it as %2B)"
            if _PLUS_AS_SPACE.search(text)
            else ""
        )
        raise InvalidMomentError(f"not an RFC 3339 date-time, {EXAMPLE}{hint}")
    if match["zone"] is None:
        raise InvalidMomentError(_NO_ZONE)
    if match["second"] == "60":
        raise InvalidMomentError("a leap second (:60) cannot be represented; use :59")
    zone_hour, zone_minute = int(match["zone_hour"] or 0), int(match["zone_minute"] or 0)
    if zone_hour > 23 or zone_minute > 59:
        raise InvalidMomentError("a time zone offset runs from -23:59 to +23:59")
    offset = timedelta(hours=zone_hour, minutes=zone_minute)
    try:
        moment = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"]),
            int((match["fraction"] or "0").ljust(6, "0")[:6]),
            tzinfo=timezone(-offset if match["sign"] == "-" else offset),
        )
    except ValueError as exc:
        # Month 13, 30 February, hour 24, year 0: Python's reason names the field.
        raise InvalidMomentError(f"not a valid date-time: {exc}") from exc
    return in_utc(moment)


def in_utc(moment: datetime) -> datetime:
    """An aware moment in UTC; InvalidMomentError if naive or outside years 1 to 9999 there."""
    if moment.utcoffset() is None:
        raise InvalidMomentError(_NO_ZONE)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidMomentError("a date-time must fall within the years 1 to 9999 in UTC") from exc


def require_expiry(expires_at: datetime, now: datetime) -> None:
    """An expiry must be in the future (400 otherwise) and at most MAX_EXPIRY_AHEAD away
    (422): one for good is null."""
    if expires_at <= now:
        raise InvalidRequestError("expires_at must be in the future")
    if expires_at > now + MAX_EXPIRY_AHEAD:
        raise ExpiryTooFarError(
            f"expires_at must be at most {MAX_EXPIRY_AHEAD.days} days (10 years) ahead; "
            "send null for no expiry"
        )
