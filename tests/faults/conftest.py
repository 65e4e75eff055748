"""A live API process per test, started and killed by the test; data arranged through the
owner's connection. Every server here listens on 127.0.0.1 only."""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.factories import DEFAULT_PASSWORD
from tests.support.live_server import LiveServer, start_server

StartApi = Callable[..., LiveServer]


@pytest.fixture
def start_api(tmp_path: Path) -> Iterator[StartApi]:
    """Start API processes with the environment given; any left running are killed after."""
    started: list[LiveServer] = []

    def start(env: dict[str, str], *, port: int | None = None) -> LiveServer:
        server = start_server(env, tmp_path / f"api-{len(started)}.log", port=port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


@dataclass(frozen=True)
class Timed:
    status: int | None  # None: no HTTP answer at all (refused, reset, timed out)
    seconds: float
    body: dict[str, object]
    headers: httpx.Headers | None = None


def timed(client: httpx.Client, method: str, path: str, **kwargs: object) -> Timed:
    """One request, never raising: what came back and how long it took."""
    started = time.monotonic()
    try:
        response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError:
        return Timed(None, time.monotonic() - started, {})
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text}
    return Timed(response.status_code, time.monotonic() - started, body, response.headers)


def login_form(username: str) -> dict[str, str]:
    return {"grant_type": "password", "username": username, "password": DEFAULT_PASSWORD}


def password_login(client: httpx.Client, username: str) -> httpx.Response:
    return client.post("/token", data=login_form(username))


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> float:
    """Poll until `condition` holds; return how long it took. Bounded, so a stuck
    recovery fails the test instead of hanging CI."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
