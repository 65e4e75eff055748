"""`Moment`: the type of every date-time the API takes, in a body or a query.

An RFC 3339 string with a time zone, within Python's years 1 to 9999 in UTC, and read
as UTC (see domain/moments.py); anything else, a Unix number included, is a 422. Only
inputs use it: a response states a stored value as it is, whatever rule it was
accepted under.
"""

from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator

from backend.domain.moments import EXAMPLE, InvalidMomentError, in_utc, parse_moment


def _moment(value: object) -> datetime:
    if isinstance(value, datetime):
        return in_utc(value)
    if not isinstance(value, str):
        raise InvalidMomentError(f"a date-time must be an RFC 3339 string, {EXAMPLE}")
    return parse_moment(value)


# The schema stays `type: string, format: date-time`: the validator runs first.
Moment = Annotated[datetime, BeforeValidator(_moment)]
