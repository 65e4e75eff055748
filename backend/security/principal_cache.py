"""The principal cache: each API process remembers its subjects' standing, /me answers
and the scopes its service accounts' roles expand to.

The guard runs on every request. Asking PostgreSQL or Redis each time would make a
round trip the largest cost of the hot path, so each process keeps what it read in its
own memory, and whatever changes a subject's standing or profile drops the entries:
in the changing process at once after its commit, and in every other process through a
Redis channel the change is published on (also after the commit).

A process trusts its entries only while it is subscribed to that channel: when the
subscription breaks it forgets everything and asks PostgreSQL until it is subscribed
again, so a Redis outage costs speed, never correctness. Entries also expire after
`ttl` seconds, which bounds a missed message (a publish that failed while the
subscriber stayed connected, or a change made outside the application).

A fill that races a change cannot keep a stale entry: a fill names the generation it
started its read in, and is dropped if any invalidation arrived since.

A service account's scopes are kept by (account, token version, platform). Every change
that takes a scope away from an account bumps its token version in the same transaction
(services.cutoff), and the grant reads the version from the database each time, so a
loss is seen by the next grant in every process at once, before any message arrives; a
gain (a role that now includes more) is seen once the tenant's entries are dropped, as
a profile's is.

It also keeps one piece of platform-level reference data the same way: the origins that
registered clients allow (CORS asks on every cross-origin request). A change of any
client forgets it like a tenant's entries, under the `CLIENTS` key, so the same channel,
generation and expiry rules hold for it.
"""

import logging
import threading
import time
import uuid
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

import redis

from backend.domain.standing import SubjectStanding

logger = logging.getLogger(__name__)

# One channel per Redis database: pub/sub ignores database numbers, and installations
# (or test workers) that share a server by database must not hear each other. The name
# predates "principal cache" and stays: during a rolling deploy old and new processes
# must hear each other's invalidations.
CHANNEL_PREFIX = "tessera:callers"
# Beyond this many subjects a message names the whole tenant: cheaper to send and apply.
MESSAGE_SUBJECTS = 200
# A ping on the subscription this often; without a pong within twice that, reconnect.
HEARTBEAT_SECONDS = 5.0
# How long the listener waits for a message before it looks whether it should stop: the
# longest close() waits for it, so for every API process that shuts down (a wait of a
# second was most of an app's start and stop). A tenth of a second of select() is free.
LISTEN_TICK_SECONDS = 0.1
# The key clients' cached data is forgotten under: clients belong to no tenant, and no
# tenant has this id (theirs are random). Being a UUID, a message naming it is one that
# processes of the previous release parse too (and drop nothing for).
CLIENTS = uuid.UUID(int=0)

Value = TypeVar("Value")


class _Entries(Generic[Value]):
    """Entries by tenant, each with a monotonic expiry. Callers hold the cache's lock."""

    def __init__(self, limit: int) -> None:
        self._by_tenant: dict[uuid.UUID, dict[Hashable, tuple[Value, float]]] = {}
        self._count = 0
        self._limit = limit

    def get(self, tenant_id: uuid.UUID, key: Hashable, now: float) -> Value | None:
        entry = self._by_tenant.get(tenant_id, {}).get(key)
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

    def put(self, tenant_id: uuid.UUID, key: Hashable, value: Value, expires: float) -> None:
        if self._count >= self._limit:
            # Simpler than LRU bookkeeping on the hot path; refilling costs one read each.
            self.clear()
        entries = self._by_tenant.setdefault(tenant_id, {})
        if key not in entries:
            self._count += 1
        entries[key] = (value, expires)

    def drop(self, tenant_id: uuid.UUID, keys: Iterable[Hashable] | None = None) -> None:
        entries = self._by_tenant.get(tenant_id)
        if entries is None:
            return
        if keys is None:
            self._count -= len(entries)
            del self._by_tenant[tenant_id]
            return
        for key in keys:
            if entries.pop(key, None) is not None:
                self._count -= 1

    def clear(self) -> None:
        self._by_tenant.clear()
        self._count = 0


class PrincipalCache:
    """Per-process standing (by subject), rendered /me bodies (by subject and scopes) and
    service accounts' scopes (by account, token version and platform), and the origins
    clients allow."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        ttl: float = 30.0,
        # A standing takes ~300 bytes, a /me body ~1.5 KiB, an account's scopes ~1 KiB:
        # ~30 MB, ~15 MB and ~10 MB at most.
        standing_limit: int = 100_000,
        profile_limit: int = 10_000,
        account_scopes_limit: int = 10_000,
        reconnect_seconds: float = 1.0,
    ) -> None:
        self._redis = client
        self._ttl = ttl
        self._reconnect = reconnect_seconds
        self._lock = threading.Lock()
        self._standing: _Entries[SubjectStanding] = _Entries(standing_limit)
        self._profiles: _Entries[bytes] = _Entries(profile_limit)
        self._account_scopes: _Entries[frozenset[str]] = _Entries(account_scopes_limit)
        # Every client's allowed origins together, with its monotonic expiry.
        self._origins: tuple[frozenset[str], float] | None = None
        self._generation = 0
        self._live = False
        self._stopping = threading.Event()
        self._listener: threading.Thread | None = None
        # Names this cache in what it publishes: it has applied its own messages already.
        self._origin = uuid.uuid4().hex
        self.channel = f"{CHANNEL_PREFIX}:{client.connection_pool.connection_kwargs.get('db', 0)}"
        # Set once the first subscription has succeeded or failed: see listen().
        self._settled = threading.Event()

    @property
    def generation(self) -> int:
        """Read before loading what will be kept; pass it to `keep_*` as `since`."""
        return self._generation

    @property
    def live(self) -> bool:
        """True while subscribed: only then are entries served."""
        return self._live

    def standing(self, tenant_id: uuid.UUID, subject_id: uuid.UUID) -> SubjectStanding | None:
        if not self._live:
            return None
        return self._standing.get(tenant_id, subject_id, time.monotonic())

    def keep_standing(
        self, tenant_id: uuid.UUID, subject_id: uuid.UUID, state: SubjectStanding, *, since: int
    ) -> None:
        now = time.monotonic()
        with self._lock:
            if self._live and since == self._generation:
                self._standing.put(tenant_id, subject_id, state, now + self._ttl)

    def profile(self, tenant_id: uuid.UUID, key: Hashable) -> bytes | None:
        if not self._live:
            return None
        return self._profiles.get(tenant_id, key, time.monotonic())

    def keep_profile(
        self,
        tenant_id: uuid.UUID,
        key: Hashable,
        body: bytes,
        *,
        since: int,
        valid_for: float | None = None,
    ) -> None:
        """Keep a rendered profile; `valid_for` seconds at most (a grant that will expire)."""
        lifetime = self._ttl if valid_for is None else min(self._ttl, valid_for)
        if lifetime <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if self._live and since == self._generation:
                self._profiles.put(tenant_id, key, body, now + lifetime)

    def account_scopes(self, tenant_id: uuid.UUID, key: Hashable) -> frozenset[str] | None:
        """A service account's scopes; `key` holds its token version (see the module)."""
        if not self._live:
            return None
        return self._account_scopes.get(tenant_id, key, time.monotonic())

    def keep_account_scopes(
        self, tenant_id: uuid.UUID, key: Hashable, scopes: frozenset[str], *, since: int
    ) -> None:
        now = time.monotonic()
        with self._lock:
            if self._live and since == self._generation:
                self._account_scopes.put(tenant_id, key, scopes, now + self._ttl)

    def origins(self) -> frozenset[str] | None:
        """The origins some client allows, if remembered."""
        kept = self._origins
        if not self._live or kept is None or kept[1] <= time.monotonic():
            return None
        return kept[0]

    def keep_origins(self, origins: frozenset[str], *, since: int) -> None:
        now = time.monotonic()
        with self._lock:
            if self._live and since == self._generation:
                self._origins = (origins, now + self._ttl)

    def forget_clients(self) -> None:
        """forget() what is kept of clients, in every process. Call it after the change
        of a client has committed: services.clients does."""
        self.forget(CLIENTS)

    def forget(self, tenant_id: uuid.UUID, subject_ids: list[uuid.UUID] | None = None) -> None:
        """Drop, in every process, the subjects' standing (all of the tenant's with None)
        and every profile and account's scopes of the tenant. An empty list drops the
        tenant's profiles and accounts' scopes only.

        Call it after the change has committed: services.cutoff does, for every change
        of standing.
        """
        self.drop(tenant_id, subject_ids)
        try:
            self._redis.publish(self.channel, _message(self._origin, tenant_id, subject_ids))
        except redis.RedisError as exc:
            # Every other process is then either cut off from Redis too (and trusts
            # nothing it holds) or keeps a stale entry for at most `ttl` seconds.
            logger.warning(
                "could not publish a principal cache invalidation (%s)", type(exc).__name__
            )

    def drop(self, tenant_id: uuid.UUID, subject_ids: list[uuid.UUID] | None = None) -> None:
        """forget() in this process only."""
        with self._lock:
            self._generation += 1
            self._standing.drop(tenant_id, subject_ids)
            self._profiles.drop(tenant_id)
            self._account_scopes.drop(tenant_id)
            if tenant_id == CLIENTS:
                self._origins = None

    def listen(self, *, wait: float = 0.0) -> None:
        """Subscribe in a background thread; entries are served once subscribed.

        Waits up to `wait` seconds for the first attempt to succeed or fail, so a process
        that starts serving at once does not start with a cache that keeps nothing.
        """
        if self._listener is None:
            self._listener = threading.Thread(
                target=self._listen, name="principal-cache-listener", daemon=True
            )
            self._listener.start()
        self._settled.wait(wait)

    def close(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.join(timeout=HEARTBEAT_SECONDS)
        self._set_live(False)

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                self._follow()
            except (redis.RedisError, OSError) as exc:
                self._settled.set()
                if self._live:
                    logger.warning(
                        "principal cache cut off from Redis (%s); "
                        "asking PostgreSQL until it is back",
                        type(exc).__name__,
                    )
                self._set_live(False)
                self._stopping.wait(self._reconnect)

    def _follow(self) -> None:
        """Subscribe, then apply messages until the subscription fails or we stop."""
        # redis-py leaves pubsub() unannotated.
        with self._redis.pubsub() as pubsub:  # type: ignore[no-untyped-call]
            pubsub.subscribe(self.channel)
            last_pong = pinged = time.monotonic()
            while not self._stopping.is_set():
                message = pubsub.get_message(timeout=LISTEN_TICK_SECONDS)
                now = time.monotonic()
                if message is not None:
                    kind = message["type"]
                    if kind == "message":
                        self._apply(message["data"])
                    elif kind == "subscribe":
                        # Whatever happened while unsubscribed is unknown: start empty.
                        self._set_live(True)
                        self._settled.set()
                        last_pong = now
                    elif kind == "pong":
                        last_pong = now
                if now - last_pong > 2 * HEARTBEAT_SECONDS:
                    raise redis.TimeoutError("no pong on the principal cache subscription")
                if now - pinged >= HEARTBEAT_SECONDS:
                    pubsub.ping()
                    pinged = now

    def _apply(self, data: bytes | str) -> None:
        try:
            origin, tenant_id, subject_ids = _parse(data)
        except ValueError:
            logger.warning("ignored a malformed principal cache message")
            return
        if origin != self._origin:
            self.drop(tenant_id, subject_ids)

    def _set_live(self, live: bool) -> None:
        with self._lock:
            self._generation += 1
            self._standing.clear()
            self._profiles.clear()
            self._account_scopes.clear()
            self._origins = None
            self._live = live


def _message(origin: str, tenant_id: uuid.UUID, subject_ids: list[uuid.UUID] | None) -> str:
    """`<origin> <tenant>` for the whole tenant, or `<origin> <tenant>:<subject> ...`."""
    if subject_ids is None or len(subject_ids) > MESSAGE_SUBJECTS:
        return f"{origin} {tenant_id}"
    return f"{origin} {tenant_id}:" + " ".join(str(s) for s in subject_ids)


def _parse(data: bytes | str) -> tuple[str, uuid.UUID, list[uuid.UUID] | None]:
    text = data.decode() if isinstance(data, bytes) else data
    origin, _, about = text.partition(" ")
    tenant, colon, subjects = about.partition(":")
    if not colon:
        return origin, uuid.UUID(tenant), None
    return origin, uuid.UUID(tenant), [uuid.UUID(s) for s in subjects.split()]
