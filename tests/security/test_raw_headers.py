"""Hostile Authorization headers on the wire, against a real uvicorn on 127.0.0.1.

In-process clients hand the app whatever they are given; a real server parses the bytes
first. An oversized header may be refused by the server itself (400 or 431): that is
fine, so long as nothing answers 5xx, nothing accepts the token, and the server lives on.
"""

import socket
from collections.abc import Callable, Iterator

import httpx
import pytest

from backend.settings import Settings
from tests.security.conftest import Owner
from tests.support.live_server import HOST, LiveServer, server_env, start_server

pytestmark = pytest.mark.security

IssueToken = Callable[..., str]


@pytest.fixture(scope="module")
def live(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("raw-headers")
    server = start_server(server_env(settings, directory / "var"), directory / "api.log")
    yield server
    server.stop()


def status_of(server: LiveServer, authorization: bytes) -> int:
    """Send GET /me with these raw header bytes; the status code of the answer."""
    request = (
        b"GET /me HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Authorization: " + authorization + b"\r\n\r\n"
    )
    with socket.create_connection((HOST, server.port), timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while b"\r\n" not in received:
            chunk = connection.recv(4096)
            if not chunk:
                break
            received += chunk
    status_line = received.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 "), f"no HTTP answer: {received[:200]!r}"
    return int(status_line.split()[1])


def assert_unharmed(server: LiveServer) -> None:
    """Still serving, and nothing reached the unexpected-error handler."""
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert "Traceback" not in server.output()


def test_control_a_genuine_token_over_the_raw_socket(
    live: LiveServer, acme: Owner, issue_token: IssueToken
) -> None:
    assert status_of(live, b"Bearer " + issue_token(acme.user, ["me"]).encode()) == 200


@pytest.mark.parametrize("size", [8 * 1024, 64 * 1024])
def test_an_oversized_authorization_header_is_refused(
    live: LiveServer, acme: Owner, issue_token: IssueToken, size: int
) -> None:
    # A genuine token padded to the size, so only its length is wrong.
    token = issue_token(acme.user, ["me"]).encode()
    status = status_of(live, b"Bearer " + token + b"A" * (size - len(token)))
    assert status in (400, 401, 431), status
    assert_unharmed(live)


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer \x00\x01\x02",
        b"Bearer \xff\xfe\xfd\x80",
        b"\xde\xad\xbe\xef",
        b"Bearer \x7f." + bytes(range(0x80, 0x100)),
        b"Bearer " + b"\xc3\x28" * 100,
        b"",
    ],
    ids=["nul-and-controls", "high-bytes", "no-scheme", "del-and-latin-1", "bad-utf-8", "empty"],
)
def test_binary_garbage_in_authorization_is_refused(live: LiveServer, value: bytes) -> None:
    status = status_of(live, value)
    assert status in (400, 401), status
    assert_unharmed(live)
