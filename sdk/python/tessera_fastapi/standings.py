"""Last-known standings, kept current by following Tessera's standings feed.

`Standings` holds what the feed said: each tenant's status, and the token version and
status of every subject whose standing is not a new subject's. `FeedFollower` is a
daemon thread that takes a snapshot (GET /standings), then follows GET /standings/stream
(Server-Sent Events) from the snapshot's cursor, applying each change the moment it
arrives; after a dropped connection it resumes with Last-Event-ID, so nothing is missed,
and on a `reset` event (its cursor was trimmed away) it takes a new snapshot.
"""

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

logger = logging.getLogger("tessera_fastapi")

ACTIVE = "active"


class Standings:
    """Thread-safe: the follower writes, requests read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tenants: dict[str, str] = {}
        self._subjects: dict[tuple[str, str, str], tuple[int, str]] = {}

    def replace(self, snapshot: dict[str, Any]) -> None:
        """Everything from a snapshot (GET /standings)."""
        tenants: dict[str, str] = {}
        subjects: dict[tuple[str, str, str], tuple[int, str]] = {}
        for tenant in snapshot["tenants"]:
            tenant_id = str(tenant["tenant_id"])
            tenants[tenant_id] = str(tenant["status"])
            for subject in tenant["subjects"]:
                key = (tenant_id, str(subject["kind"]), str(subject["subject"]))
                subjects[key] = (int(subject["token_version"]), str(subject["status"]))
        with self._lock:
            self._tenants = tenants
            self._subjects = subjects

    def apply(self, change: dict[str, Any]) -> None:
        """One `standing` event. A subject's token version only grows, so an event older
        than what is held (replayed after a snapshot) changes nothing."""
        tenant_id = str(change["tenant_id"])
        with self._lock:
            if change.get("tenant_status") is not None:
                self._tenants[tenant_id] = str(change["tenant_status"])
            for subject in change["subjects"]:
                key = (tenant_id, str(subject["kind"]), str(subject["subject"]))
                version = int(subject["token_version"])
                held = self._subjects.get(key)
                if held is None or version >= held[0]:
                    self._subjects[key] = (version, str(subject["status"]))

    def refusal(self, tenant_id: str, kind: str, subject: str, version: int) -> str | None:
        """Why a token of this subject at `version` must be refused, or None."""
        if self._tenants.get(tenant_id, ACTIVE) != ACTIVE:
            return "tenant is suspended"
        held = self._subjects.get((tenant_id, kind, subject))
        if held is None:
            return None
        if held[1] != ACTIVE:
            return "subject is disabled"
        if version < held[0]:
            return "token has been revoked"
        return None


class FeedFollower:
    """The thread that keeps `Standings` current. `live` is True while connected to the
    feed with nothing missed; `lost_since` is when it last stopped being so."""

    def __init__(
        self,
        http: httpx.Client,
        standings: Standings,
        *,
        snapshot_url: str,
        stream_url: str,
        bearer: Callable[[], str],
        read_timeout: float,
        reconnect_seconds: float,
        on_change: Callable[[], None],
    ) -> None:
        self._http = http
        self._standings = standings
        self._snapshot_url = snapshot_url
        self._stream_url = stream_url
        self._bearer = bearer
        self._read_timeout = read_timeout
        self._reconnect = reconnect_seconds
        self._on_change = on_change
        self._cursor: str | None = None
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: httpx.Response | None = None
        self.live = False
        self.lost_since: float = time.monotonic()

    def start(self, *, wait: float) -> None:
        """Start following; wait up to `wait` seconds for the first snapshot."""
        self._thread = threading.Thread(target=self._run, name="tessera-feed", daemon=True)
        self._thread.start()
        self._ready.wait(wait)

    def stop(self) -> None:
        """Stop following, at once: the thread is not left waiting for a heartbeat."""
        self._stopping.set()
        response = self._response
        if response is not None:
            _interrupt(response)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._follow()
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                if self.live and not self._stopping.is_set():
                    logger.warning("standings feed lost (%s); reconnecting", type(exc).__name__)
            self._lose()
            self._ready.set()
            self._stopping.wait(self._reconnect)

    def _lose(self) -> None:
        if self.live:
            self.live = False
            self.lost_since = time.monotonic()

    def _follow(self) -> None:
        headers = {"Authorization": f"Bearer {self._bearer()}"}
        if self._cursor is None:
            # A snapshot of a large installation takes seconds (docs/resource-servers.md).
            response = self._http.get(
                self._snapshot_url, headers=headers, timeout=httpx.Timeout(10.0, read=300.0)
            )
            response.raise_for_status()
            snapshot = response.json()
            self._standings.replace(snapshot)
            self._cursor = str(snapshot["cursor"])
        timeout = httpx.Timeout(10.0, read=self._read_timeout)
        stream_headers = {**headers, "Accept": "text/event-stream", "Last-Event-ID": self._cursor}
        with self._http.stream(
            "GET", self._stream_url, headers=stream_headers, timeout=timeout
        ) as response:
            response.raise_for_status()
            self._response = response
            try:
                # Set before this check, so a stop() that saw no response yet is seen here.
                if self._stopping.is_set():
                    return
                self._read(response)
            finally:
                self._response = None

    def _read(self, response: httpx.Response) -> None:
        for event, event_id, data in _events(response.iter_lines()):
            if event == "connected":
                if not self.live:
                    self.live = True
                    self._on_change()
                self._ready.set()
            elif event == "standing":
                self._standings.apply(json.loads(data))
                self._cursor = event_id
            elif event == "reset":
                # Changes after the cursor were trimmed: start again from a snapshot.
                self._cursor = None
                return
            if self._stopping.is_set():
                return


def _interrupt(response: httpx.Response) -> None:
    """End a read blocked on `response` in another thread. Closing the response does
    not: the reader holds the connection, and closing a socket's descriptor does not wake
    a thread blocked in recv() on it. Shutting the socket down does, with an end of file
    (httpx exposes the socket as the `network_stream` extension)."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    else:
        response.close()


def _events(lines: Iterator[str]) -> Iterator[tuple[str, str | None, str]]:
    """(event, id, data) per Server-Sent Event; ("connected", None, "") for the first
    comment line, which Tessera sends as soon as the stream is open."""
    event, event_id = "message", None
    data: list[str] = []
    opened = False
    for line in lines:
        if line.startswith(":"):
            if not opened:
                opened = True
                yield "connected", None, ""
            continue
        if line == "":
            if data or event != "message":
                yield event, event_id, "\n".join(data)
            event, event_id, data = "message", None, []
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "id":
            event_id = value
        elif name == "data":
            data.append(value)
