"""The standings feed: every change of a subject's standing, kept in a Redis stream.

services.cutoff publishes here after each commit that changes a standing; resource
servers (the tessera_fastapi kit) follow it over GET /standings/stream, so a disabled
user or a suspended tenant is refused by them on the next request, as by Tessera.

One stream entry per change, holding its JSON event (see `StandingChange`); the entry's
id is the Server-Sent Events id, so a follower that reconnects with `Last-Event-ID`
resumes exactly after the last change it applied. The stream keeps the last
`length` changes (approximately: Redis trims in whole nodes); a cursor older than the
oldest kept entry can no longer be resumed, and its follower is told to take a new
snapshot (GET /standings) instead.

Events carry the new standing itself (token version, status), never a delta: applying
one twice, or an older one after a snapshot that already holds a newer state, is
harmless for subjects, whose token version only grows.
"""

import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import redis
import redis.asyncio

logger = logging.getLogger(__name__)

STREAM_PREFIX = "tessera:standings"
# A change naming more subjects is published as several entries, each this many at most,
# so no single event grows without bound under a bulk job.
EVENT_SUBJECTS = 200
# Stream ids as Redis writes them: milliseconds, a dash, a sequence number.
CURSOR_PATTERN = r"^[0-9]{1,20}-[0-9]{1,20}$"
# The longest id the pattern admits, stated as a bound for clients and fuzzers.
CURSOR_MAX_LENGTH = 41
_CURSOR = re.compile(CURSOR_PATTERN)
# The cursor of an empty stream: every change comes after it.
ORIGIN = "0-0"
# How much longer than a blocking read's own wait its socket waits for the reply.
READ_MARGIN_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class SubjectChange:
    """One subject's new standing: `kind` is "user" or "service_account"."""

    kind: str
    subject: str
    token_version: int
    status: str


@dataclass(frozen=True, slots=True)
class StandingChange:
    """One committed change: the subjects it reached, or the tenant's new status."""

    tenant_id: str
    reason: str
    subjects: list[SubjectChange]
    # "active" or "suspended" when the change was the tenant's own; None otherwise.
    tenant_status: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


class CursorGoneError(Exception):
    """The cursor is older than what the stream keeps: take a new snapshot."""


def is_cursor(value: str) -> bool:
    return _CURSOR.fullmatch(value) is not None


def _key(client: redis.Redis | redis.asyncio.Redis) -> str:
    # One stream per Redis database, as the principal cache's channel: installations
    # (or test workers) sharing a server by database must not read each other's changes.
    return f"{STREAM_PREFIX}:{client.connection_pool.connection_kwargs.get('db', 0)}"


def _order(cursor: str) -> tuple[int, int]:
    millis, _, sequence = cursor.partition("-")
    return int(millis), int(sequence)


class StandingsFeed:
    """The publishing side, and the reads a snapshot needs; one per process."""

    def __init__(self, client: redis.Redis, *, length: int = 100_000) -> None:
        self._redis = client
        self._length = length
        self.key = _key(client)

    def publish(
        self,
        tenant_id: uuid.UUID,
        reason: str,
        subjects: Sequence[SubjectChange],
        *,
        tenant_status: str | None = None,
    ) -> None:
        """Append the change (after its commit). A Redis failure is logged, not raised:
        the change is committed, and followers re-take snapshots (see docs)."""
        chunks = [
            list(subjects[start : start + EVENT_SUBJECTS])
            for start in range(0, len(subjects), EVENT_SUBJECTS)
        ] or [[]]
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for chunk in chunks:
                    event = StandingChange(str(tenant_id), reason, chunk, tenant_status)
                    pipe.xadd(
                        self.key,
                        {"event": event.to_json()},
                        maxlen=self._length,
                        approximate=True,
                    )
                pipe.execute()
        except redis.RedisError as exc:
            logger.warning("could not publish a standing change (%s)", type(exc).__name__)

    def cursor(self) -> str:
        """The id of the newest change: a snapshot read after this call includes it."""
        newest: Any = self._redis.xrevrange(self.key, count=1)
        return _text(newest[0][0]) if newest else ORIGIN


async def follow(
    url: str, after: str, *, block_seconds: float
) -> AsyncIterator[tuple[str, str] | None]:
    """Yield (id, event JSON) for each change after the cursor `after`, as they come;
    None once every change already there has been yielded (caught up), and then after
    each `block_seconds` without one (the caller's heartbeat).

    Raises CursorGoneError if changes after `after` may have been trimmed away already.
    """
    # XREAD BLOCK holds the reply for up to block_seconds: the socket must wait longer
    # than that, or redis-py's default read timeout (5 s) ends every idle stream.
    client = redis.asyncio.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=block_seconds + READ_MARGIN_SECONDS
    )
    key = _key(client)
    try:
        await _require_resumable(client, key, after)
        cursor = after
        caught_up = False
        while True:
            # The backlog without blocking, so its end is known; then block for more.
            block = int(block_seconds * 1000) if caught_up else None
            answer: Any = await client.xread({key: cursor}, count=100, block=block)
            if not answer:
                caught_up = True
                yield None
                continue
            for entry_id, fields in answer[0][1]:
                cursor = _text(entry_id)
                yield cursor, _text(fields[b"event"])
    finally:
        await client.aclose()


async def _require_resumable(client: redis.asyncio.Redis, key: str, after: str) -> None:
    """A cursor resumes only if nothing after it has been trimmed: it is at or past the
    oldest entry kept (entries are trimmed from the oldest), or the stream is as new."""
    oldest: Any = await client.xrange(key, count=1)
    newest: Any = await client.xrevrange(key, count=1)
    if not oldest:
        # No stream (Redis lost it, or nothing was ever published): only the origin resumes.
        if after != ORIGIN:
            raise CursorGoneError(after)
        return
    if _order(after) > _order(_text(newest[0][0])):
        # A cursor from another stream (another Redis): nothing it knows can be trusted.
        raise CursorGoneError(after)
    if after == ORIGIN:
        # Resuming from the very start: fine as long as nothing was ever trimmed.
        info: Any = await client.xinfo_stream(key)
        if int(info["entries-added"]) > int(info["length"]):
            raise CursorGoneError(after)
        return
    if _order(after) < _order(_text(oldest[0][0])):
        raise CursorGoneError(after)


def _text(value: bytes) -> str:
    return value.decode()
