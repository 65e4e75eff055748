"""The JWKS refetch on an unknown kid: at most once per interval, however many requests
name bogus kids at once."""

import threading
import time
import types
import uuid

import pytest
from conftest import AUDIENCE, Issuer, app_for, bearer
from fastapi.testclient import TestClient
from tessera_fastapi import TesseraGuard, keys

JWKS = "/.well-known/jwks.json"
FLOOD = 16
INTERVAL_S = 3600.0


class Clock:
    """The keys module's monotonic clock, moved on by a test instead of waited for."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    found = Clock()
    monkeypatch.setattr(keys, "time", types.SimpleNamespace(monotonic=found.monotonic))
    return found


def flood(client: TestClient, issuer: Issuer) -> list[int]:
    """FLOOD requests with made-up kids, sent together; their statuses."""
    barrier = threading.Barrier(FLOOD, timeout=10)
    statuses: list[int] = []

    def send() -> None:
        token = issuer.token(headers={"kid": uuid.uuid4().hex})
        barrier.wait()
        statuses.append(client.get("/projects", headers=bearer(token)).status_code)

    threads = [threading.Thread(target=send, daemon=True) for _ in range(FLOOD)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return statuses


def test_a_concurrent_flood_of_bogus_kids_refetches_once_per_interval(
    issuer: Issuer, clock: Clock
) -> None:
    guard = TesseraGuard(issuer=issuer.url, audience=AUDIENCE, jwks_refetch_seconds=INTERVAL_S)
    with TestClient(app_for(guard)) as client:
        assert issuer.fetches(JWKS) == 1  # start-up
        assert flood(client, issuer) == [401] * FLOOD
        assert issuer.fetches(JWKS) == 1  # within the interval: none
        issuer.jwks_delay = 0.2  # the rest of the flood arrives during the refetch
        clock.offset += INTERVAL_S
        assert flood(client, issuer) == [401] * FLOOD
        assert issuer.fetches(JWKS) == 2  # the interval passed: one for the whole flood
        clock.offset += INTERVAL_S
        assert flood(client, issuer) == [401] * FLOOD
        assert issuer.fetches(JWKS) == 3


def test_a_key_published_after_start_up_verifies_once_the_interval_allows_a_refetch(
    issuer: Issuer, clock: Clock
) -> None:
    guard = TesseraGuard(issuer=issuer.url, audience=AUDIENCE, jwks_refetch_seconds=INTERVAL_S)
    with TestClient(app_for(guard)) as client:
        issuer.rotate()
        rotated = issuer.token(kid="key-2")
        # Within the interval the kit does not ask: the new key is not yet known.
        assert client.get("/projects", headers=bearer(rotated)).status_code == 401
        clock.offset += INTERVAL_S
        assert client.get("/projects", headers=bearer(rotated)).status_code == 200
        assert client.get("/projects", headers=bearer(issuer.token())).status_code == 200
        assert issuer.fetches(JWKS) == 2
