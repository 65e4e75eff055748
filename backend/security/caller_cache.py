"""A short-lived Redis cache of each caller's standing (status and token version).

The guard reads it on every request; anything that changes a user's status or token
version drops the entry after its transaction commits. Entries also expire after
`ttl` seconds, which bounds how long a stale entry can outlive a missed invalidation
(Redis down at that moment, or a fill racing a change).

Redis is an accelerator here, never a dependency: on any Redis error the cache
answers "miss" and stays out of the way for `backoff` seconds, and the guard asks
PostgreSQL instead, so an outage costs speed, not correctness.
"""

import logging
import time
import uuid

import redis

from backend.domain.standing import CallerStanding

logger = logging.getLogger(__name__)

PREFIX = "tessera:caller"


class CallerCache:
    def __init__(self, client: redis.Redis, *, ttl: int = 30, backoff: float = 5.0) -> None:
        self._redis = client
        self._ttl = ttl
        self._backoff = backoff
        self._down_until = 0.0

    def get(self, tenant_id: uuid.UUID, subject_id: uuid.UUID) -> CallerStanding | None:
        """One MGET for the subject's and the tenant's entries; None on a miss or an error."""
        if self._resting():
            return None
        try:
            subject, tenant = self._redis.mget(
                _subject_key(tenant_id, subject_id), _tenant_key(tenant_id)
            )
        except redis.RedisError as exc:
            self._rest(exc)
            return None
        if subject is None or tenant is None:
            return None
        status, _, version = _text(subject).partition(":")
        return CallerStanding(
            user_status=status, token_version=int(version), tenant_status=_text(tenant)
        )

    def put(self, tenant_id: uuid.UUID, subject_id: uuid.UUID, state: CallerStanding) -> None:
        if self._resting():
            return
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(
                    _subject_key(tenant_id, subject_id),
                    f"{state.user_status}:{state.token_version}",
                    ex=self._ttl,
                )
                pipe.set(_tenant_key(tenant_id), state.tenant_status, ex=self._ttl)
                pipe.execute()
        except redis.RedisError as exc:
            self._rest(exc)

    def forget(self, tenant_id: uuid.UUID, subject_ids: list[uuid.UUID] | None = None) -> None:
        """Drop the subjects' entries, or with none the tenant's (all its callers), at once."""
        keys = (
            [_tenant_key(tenant_id)]
            if subject_ids is None
            else [_subject_key(tenant_id, subject_id) for subject_id in subject_ids]
        )
        if not keys:
            return
        try:
            self._redis.delete(*keys)
        except redis.RedisError as exc:
            # Deliberately tried even while resting: a missed drop is the one failure that
            # can keep a stale entry alive, so every chance to make it counts.
            self._rest(exc)

    def _resting(self) -> bool:
        return time.monotonic() < self._down_until

    def _rest(self, exc: redis.RedisError) -> None:
        if not self._resting():
            logger.warning(
                "redis unavailable for the caller cache (%s); using PostgreSQL for %.0fs",
                type(exc).__name__,
                self._backoff,
            )
        self._down_until = time.monotonic() + self._backoff


def _subject_key(tenant_id: uuid.UUID, subject_id: uuid.UUID) -> str:
    return f"{PREFIX}:{tenant_id}:{subject_id}"


def _tenant_key(tenant_id: uuid.UUID) -> str:
    return f"{PREFIX}:{tenant_id}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
