"""What the standings feed holds after a cursor, read straight from its Redis stream."""

import json
from typing import Any

import redis

from backend.security.standings_feed import StandingsFeed


def changes_after(client: redis.Redis, feed: StandingsFeed, cursor: str) -> list[dict[str, Any]]:
    """The events published after `cursor`, oldest first."""
    entries: Any = client.xrange(feed.key, min=f"({cursor}")
    return [json.loads(fields[b"event"]) for _, fields in entries]
