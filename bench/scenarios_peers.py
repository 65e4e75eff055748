"""11: Tessera beside what teams would pick instead, alternated in one run.

The peers (bench/peers) each run in one uvicorn worker with uvloop and httptools and no
access log, as Tessera does: the FastAPI documentation's OAuth2-scopes example, and
fastapi-users on a database of its own. Measured A B A B: the guarded read of the
caller's own profile (req/s and the server's CPU per request) and the password login,
all three hashing with pwdlib's recommended argon2. A plain FastAPI app's bare endpoint
against Tessera's tells what Tessera's per-request edge (request id, headers, metrics)
costs.
"""

import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from sqlalchemy.engine import make_url

from backend.security.passwords import PasswordService
from bench import data
from bench.load import LUA, Run, wrk
from bench.measure import Row, alternate, at_least, at_most, runs_json
from bench.scenarios_http import GUARD_CONNECTIONS, LOGIN_CLIENTS, login_args
from bench.scenarios_rates import LOGIN_MIN_SECONDS
from bench.stack import Process, Server, Stack
from tests.support.database import drop_database, recreate_database

PEER_USERNAME = "peer@bench.example.com"
PEER_DATABASE = "tessera_bench_peers"
EDGE_LIMIT_US = 30.0

Raw = dict[str, object]


@contextmanager
def peers(stack: Stack) -> Iterator[dict[str, Server]]:
    """The plain app, the docs example and fastapi-users (on a database of its own)."""
    url = make_url(stack.admin_url).set(drivername="postgresql+psycopg", database=PEER_DATABASE)
    env = {
        "PEER_USERNAME": PEER_USERNAME,
        "PEER_PASSWORD": data.PASSWORD,
        "PEER_DATABASE_URL": url.render_as_string(hide_password=False),
    }
    recreate_database(stack.admin_url, PEER_DATABASE)
    with ExitStack() as running:
        running.callback(drop_database, stack.admin_url, PEER_DATABASE)
        started = {}
        for name, factory in (
            ("plain", "bench.peers.plain:create_app"),
            ("docs", "bench.peers.docs_scopes:create_app"),
            ("fastapi-users", "bench.peers.users_app:create_app"),
        ):
            started[name] = Server(stack, env, name, factory=factory, ready_path="/openapi.json")
            running.callback(started[name].stop)
        yield started


def _login(url: str, username: str, scope: str = "") -> str:
    body = urllib.parse.urlencode(
        {"grant_type": "password", "username": username, "password": data.PASSWORD, "scope": scope}
    ).encode()
    with urllib.request.urlopen(url, body, timeout=30) as answer:  # noqa: S310
        return str(json.loads(answer.read())["access_token"])


def side_by_side(
    srv: Server, stack: Stack, made: data.Dataset, me: str, passwords: PasswordService
) -> tuple[list[Row], Raw]:
    """11: guarded read, edge cost and login, Tessera against the peers."""
    data.set_passwords(stack.owner, passwords, made.small_tenant)
    with peers(stack) as running:
        docs, users, plain = running["docs"], running["fastapi-users"], running["plain"]
        tokens = {
            "docs": _login(docs.url + "/token", PEER_USERNAME, "me"),
            "fastapi-users": _login(users.url + "/auth/jwt/login", PEER_USERNAME),
        }
        cpu: dict[str, list[float]] = {}

        def read(
            name: str, process: Process, url: str, token: str | None
        ) -> Callable[[float], Run]:
            headers = {"Authorization": f"Bearer {token}"} if token else None

            def step(seconds: float) -> Run:
                before = process.cpu_seconds()
                run = wrk(url, seconds=seconds, connections=GUARD_CONNECTIONS, headers=headers)
                cpu.setdefault(name, []).append(
                    (process.cpu_seconds() - before) / run.requests * 1e6
                )
                return run

            return step

        reads = alternate(
            {
                "tessera": read("tessera", srv, srv.url + "/me", me),
                "docs": read("docs", docs, docs.url + "/users/me/", tokens["docs"]),
                "fastapi-users": read(
                    "fastapi-users", users, users.url + "/users/me", tokens["fastapi-users"]
                ),
                "tessera bare": read("tessera bare", srv, srv.url + "/bench/bare", None),
                "plain bare": read("plain bare", plain, plain.url + "/bare", None),
            }
        )
        logins = alternate(
            {
                "tessera": _logins(srv.url + "/token", made.login_users),
                "docs": _logins(docs.url + "/token", [PEER_USERNAME]),
                "fastapi-users": _logins(users.url + "/auth/jwt/login", [PEER_USERNAME]),
            }
        )
    us = {name: values[1:] for name, values in cpu.items()}  # the warm-up's dropped
    rps = {name: [r.rps for r in runs] for name, runs in reads.items()}
    name = "11 peers"
    edge = [t - p for t, p in zip(us["tessera bare"], us["plain bare"], strict=True)]
    rows = [
        Row(
            name,
            "req/s",
            "docs example GET /users/me/",
            "Tessera GET /me",
            rps["docs"],
            rps["tessera"],
            ">= 1.0x",
            at_least(1.0),
        ),
        Row(
            name,
            "req/s",
            "fastapi-users GET /users/me",
            "Tessera GET /me",
            rps["fastapi-users"],
            rps["tessera"],
            ">= 4x",
            at_least(4.0),
        ),
        Row(
            name,
            "CPU us/req",
            "docs example",
            "Tessera GET /me",
            us["docs"],
            us["tessera"],
            "-",
            unit=" us",
        ),
        Row(
            name,
            "CPU us/req",
            "fastapi-users",
            "Tessera GET /me",
            us["fastapi-users"],
            us["tessera"],
            "-",
            unit=" us",
        ),
        Row(
            name,
            "CPU us/req",
            "plain FastAPI bare",
            "Tessera bare",
            us["plain bare"],
            us["tessera bare"],
            "-",
            unit=" us",
        ),
        Row(
            name,
            "CPU us/req over plain",
            "limit",
            "Tessera's edge",
            [EDGE_LIMIT_US] * len(edge),
            edge,
            f"<= {EDGE_LIMIT_US:.0f} us",
            at_most(1.0),
            unit=" us",
        ),
        Row(
            name,
            "logins/s -c4",
            "docs example",
            "Tessera",
            [r.rps for r in logins["docs"]],
            [r.rps for r in logins["tessera"]],
            "-",
        ),
        Row(
            name,
            "logins/s -c4",
            "fastapi-users",
            "Tessera",
            [r.rps for r in logins["fastapi-users"]],
            [r.rps for r in logins["tessera"]],
            "-",
        ),
    ]
    return rows, {"reads": runs_json(reads), "logins": runs_json(logins), "cpu_us": cpu}


def _logins(url: str, users: list[str]) -> Callable[[float], Run]:
    script = (
        (LUA / "login.lua").read_text().replace('"/token"', f'"{urllib.parse.urlsplit(url).path}"')
    )
    return lambda s: wrk(
        url,
        seconds=max(s, LOGIN_MIN_SECONDS),
        connections=LOGIN_CLIENTS,
        script=script,
        args=login_args(users),
    )
