"""How long an access token may live: never past the lapse of a scope it carries.

An access token is not looked up when it is used: the scopes it carries are trusted
until its `exp`. A scope that comes only from time-bound role grants lapses with the
last of them (`Lapses`, domain/roles.py), so a token that carries it must expire by
then; a scope that some grant gives for good does not limit the token. The token grants
(services/auth.py) cap `exp` at the first lapse among the scopes they put in a token,
and a refresh afterwards yields a token without the lapsed ones.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from backend.domain.roles import Lapses


@dataclass(frozen=True, slots=True)
class Carried:
    """The scopes an access token carries, and the latest `exp` it may have."""

    scopes: frozenset[str]
    # Seconds since the epoch; None when no carried scope lapses (the usual lifetime).
    not_after: int | None


def carried(scopes: Iterable[str], lapses: Lapses, issued_at: int) -> Carried:
    """What a token issued at `issued_at` (seconds since the epoch) may carry, and until when.

    `exp` counts whole seconds, so a lapse is rounded down: the token ends at or before
    it, never after. A scope whose lapse falls within the token's first second could
    only be carried by a token born expired, so it is left out, as if already lapsed.
    A scope missing from `lapses` never lapses.
    """
    ends = {scope: _whole_second(lapses.get(scope)) for scope in scopes}
    kept = frozenset(scope for scope, end in ends.items() if end is None or end > issued_at)
    return Carried(
        scopes=kept,
        not_after=min((end for scope in kept if (end := ends[scope]) is not None), default=None),
    )


def _whole_second(moment: datetime | None) -> int | None:
    return None if moment is None else math.floor(moment.timestamp())
