"""Per-client request limits, counted in Redis in fixed one-minute windows.

One round trip per request: INCR and EXPIRE in one MULTI pipeline, on a key named by
the window, so every API process shares the count and old windows expire on their own.
A fixed window lets a client spend up to twice the limit across a window boundary; for
slowing down password guessing that is close enough, and it costs one key per client.

Redis is a safeguard here, not a dependency. If it cannot be reached the limiter lets
requests through (logins keep working, unthrottled), logs a warning at most once a
minute, and leaves Redis alone for a few seconds so that a hung server does not add its
timeout to every login.
"""

import ipaddress
import logging
import math
import threading
import time

import redis

from backend.domain.errors import RateLimitedError

logger = logging.getLogger(__name__)

PREFIX = "tessera:ratelimit"
WINDOW_SECONDS = 60
BACKOFF_SECONDS = 5.0
WARN_EVERY_SECONDS = 60.0


class RateLimiter:
    """At most `limit` requests per client address per minute; a limit of 0 is off."""

    def __init__(self, client: redis.Redis, *, name: str, limit: int) -> None:
        self._redis = client
        self._name = name
        self._limit = limit
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._next_warning = 0.0

    def hit(self, address: str) -> None:
        """Count one request from `address`; raise RateLimitedError past the limit."""
        if self._limit <= 0 or time.monotonic() < self._down_until:
            return
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        key = f"{PREFIX}:{self._name}:{window}:{address}"
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, WINDOW_SECONDS)
                count, _ = pipe.execute()
        except redis.RedisError as exc:
            self._rest(exc)
            return
        if count > self._limit:
            window_end = (window + 1) * WINDOW_SECONDS
            raise RateLimitedError(max(1, math.ceil(window_end - now)))

    def _rest(self, exc: redis.RedisError) -> None:
        now = time.monotonic()
        with self._lock:
            self._down_until = now + BACKOFF_SECONDS
            warn = now >= self._next_warning
            if warn:
                self._next_warning = now + WARN_EVERY_SECONDS
        if warn:
            logger.warning(
                "redis unavailable for the %s rate limit (%s); requests are not limited",
                self._name,
                type(exc).__name__,
            )


def client_address(peer: str | None, forwarded_for: str, *, trust_forwarded_for: bool) -> str:
    """The address a limit counts against.

    The TCP peer, or when the proxy in front is trusted, the last X-Forwarded-For entry:
    the one that proxy appended (earlier entries are whatever the client sent). An IPv6
    client counts by its /64, since one subscriber usually holds the whole prefix.
    """
    address = peer or "unknown"
    if trust_forwarded_for and forwarded_for:
        address = forwarded_for.rsplit(",", 1)[-1].strip() or address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
