"""Hostile cursors on the wire, against a real uvicorn on 127.0.0.1, for every listing.

A cursor is the client's text handed back to the server: whatever it decodes to (not
base64, not JSON, the wrong types, a lone surrogate or a NUL that PostgreSQL cannot
hold, another listing's key) the answer is a 400 with the reason, never a 500.
"""

import json
import socket
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy.orm import Session

from backend.settings import Settings
from tests.conftest import builtin_role
from tests.factories import TenantFactory, UserFactory
from tests.support.cursors import raw_cursor
from tests.support.live_server import HOST, LiveServer, server_env, start_server

pytestmark = pytest.mark.security

NIL = "00000000-0000-0000-0000-000000000000"
MOMENT = "2026-01-01T00:00:00Z"
# Each listing with a well-formed key of its own (the control) and of another listing.
LISTINGS = {
    "/users": ["users", "a@acme.test", NIL],
    "/tenants": ["tenants", "acme"],
    "/jobs": ["jobs", MOMENT, NIL],
    "/audit-events": ["audit-events", MOMENT, NIL],
}
IssueToken = Callable[..., str]
SCOPES = ["users:read", "tenants:read", "jobs:read", "audit:read"]


@pytest.fixture(scope="module")
def live(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("raw-cursors")
    server = start_server(server_env(settings, directory / "var"), directory / "api.log")
    yield server
    server.stop()


@pytest.fixture
def token(db: Session, settings: Settings, issue_token: IssueToken) -> str:
    """An operator of the platform tenant, so that every listing is open to it."""
    tenant = TenantFactory(slug=settings.platform_tenant_slug)
    user = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    return issue_token(user, SCOPES)


def get(server: LiveServer, token: str, path: str, query: bytes) -> tuple[int, dict[str, str]]:
    """GET path?query with these raw bytes; the status and the JSON body of the answer."""
    request = (
        b"GET " + path.encode() + b"?" + query + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Connection: close\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n"
    )
    with socket.create_connection((HOST, server.port), timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 "), f"no HTTP answer: {received[:200]!r}"
    return int(status_line.split()[1]), json.loads(body) if body else {}


def hostile(own: list[object]) -> dict[str, tuple[bytes, str]]:
    """Raw query strings for one listing, each with the reason its 400 must give."""
    listing, *key = own
    text_at = next((i for i, part in enumerate(key) if part in ("a@acme.test", "acme")), None)
    cases = {
        "not-base64": (b"cursor=%21%21", "not base64url"),
        "undecodable-bytes": (b"cursor=%ED%A0%80", "not base64url"),
        "not-json": (b"cursor=bm90IGpzb24", "not JSON"),
        "not-utf-8": (b"cursor=_w", "not JSON"),
        "object": (
            b"cursor=" + raw_cursor({"a": 1}).encode(),
            f"not one of the {listing} listing's",
        ),
        "another-listing": (
            b"cursor=" + raw_cursor(["elsewhere", *key]).encode(),
            f"not one of the {listing} listing's",
        ),
        "numbers": (b"cursor=" + raw_cursor([listing, *(1 for _ in key)]).encode(), "is not text"),
    }
    if text_at is not None:
        for name, bad in (("lone-surrogate", "a\ud800"), ("nul", "a\x00")):
            values = [listing, *key]
            values[text_at + 1] = bad
            cases[name] = (
                b"cursor=" + raw_cursor(values).encode(),
                "holds a NUL or a lone surrogate",
            )
    else:
        values = [listing, "\udfff", *key[1:]]
        cases["lone-surrogate"] = (b"cursor=" + raw_cursor(values).encode(), "is not a date-time")
    return cases


@pytest.mark.parametrize("path", list(LISTINGS))
def test_a_well_formed_cursor_is_answered(live: LiveServer, token: str, path: str) -> None:
    status, body = get(live, token, path, b"cursor=" + raw_cursor(LISTINGS[path]).encode())
    assert status == 200, body
    assert body["next_cursor"] is None


@pytest.mark.parametrize("path", list(LISTINGS))
def test_a_hostile_cursor_is_400_with_the_reason(live: LiveServer, token: str, path: str) -> None:
    for name, (query, reason) in hostile(LISTINGS[path]).items():
        status, body = get(live, token, path, query)
        assert status == 400, (name, body)
        assert body["error"] == "invalid_request", (name, body)
        assert body["error_description"].startswith("cursor is not valid: "), (name, body)
        assert reason in body["error_description"], (name, body)
    assert httpx.get(f"{live.url}/healthz").status_code == 200
    assert "Traceback" not in live.output()
