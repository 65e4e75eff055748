"""Scenarios 1-4 and 7: the guard, logins, refresh, and the API worker's memory."""

import base64
import json
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pwdlib.hashers.argon2 import Argon2Hasher

from backend.services import subjects
from bench import data
from bench.data import PASSWORD
from bench.load import GRACE_SECONDS, LUA, LoadError, Run, ensure_wrk, pgbench, wrk
from bench.measure import ROUNDS, Row, Step, alternate, at_least, at_most, runs_json
from bench.stack import Argon2, Server, Stack

GUARD_CONNECTIONS = 32
LOGIN_CLIENTS = 4
RSS_LIMIT_MB = 150.0
# The subject's columns for pgbench. Its prepared mode takes any `:name`, even inside a
# quoted literal, for a variable, and the catalogue's scope names have colons (escaped
# for SQLAlchemy's text()): the literal is written with `\x3a` for each colon instead.
COLUMNS = subjects.COLUMNS.replace("ANY('{", "ANY(E'{").replace("\\:", "\\x3a")
# Sessions of the small tenant that only the SQL ceiling rotates (data.Sizes).
CEILING_TOKENS = data.Sizes().ceiling_refresh_tokens

Raw = dict[str, object]


def guarded_read(srv: Server, token: str, algorithm: str) -> tuple[list[Row], Raw]:
    """1: GET /me and the bare guard against the bare endpoint, same app and worker."""
    auth = {"Authorization": f"Bearer {token}"}

    cpu: dict[str, list[float]] = {}

    def get(path: str) -> Step:
        def step(seconds: float) -> Run:
            before = srv.cpu_seconds()
            run = wrk(srv.url + path, seconds=seconds, connections=GUARD_CONNECTIONS, headers=auth)
            # The server's own CPU per request: steadier than req/s on a shared machine.
            cpu.setdefault(path, []).append((srv.cpu_seconds() - before) / run.requests * 1e6)
            return run

        return step

    runs = alternate({"bare": get("/bench/bare"), "me": get("/me"), "guard": get("/bench/guard")})
    bare = [r.rps for r in runs["bare"]]
    # The warm-up's CPU figures are the first of each list: dropped.
    bare_cpu, me_cpu, guard_cpu = (cpu[p][1:] for p in ("/bench/bare", "/me", "/bench/guard"))
    name = f"1 guarded read {algorithm}"
    rows = [
        Row(
            name,
            "req/s",
            "bare",
            "GET /me",
            bare,
            [r.rps for r in runs["me"]],
            ">= 0.70x",
            at_least(0.70),
        ),
        Row(name, "req/s", "bare", "guard only", bare, [r.rps for r in runs["guard"]], "-"),
        Row(name, "CPU us/req", "bare", "GET /me", bare_cpu, me_cpu, "-", unit=" us"),
        Row(name, "CPU us/req", "bare", "guard only", bare_cpu, guard_cpu, "-", unit=" us"),
    ]
    return rows, {**runs_json(runs), "server_cpu_us_per_request": cpu}


def worker_memory(srv: Server) -> Row:
    """7: the API worker's resident memory once scenario 1 has run."""
    rss = srv.rss_mb()
    return Row(
        "7 memory",
        "RSS MB",
        "limit",
        "API worker",
        [RSS_LIMIT_MB],
        [rss],
        f"<= {RSS_LIMIT_MB:.0f} MB",
        at_most(1.0),
        unit=" MB",
    )


def login_starvation(
    srv: Server, token: str, logins: list[str], argon2: Argon2
) -> tuple[list[Row], Raw]:
    """2: a guarded GET's latency with and without 4 clients logging in all the time."""
    auth = {"Authorization": f"Bearer {token}"}
    login_rates: list[float] = []

    def quiet(s: float) -> Run:
        return wrk(srv.url + "/me", seconds=s, connections=1, headers=auth)

    def loaded(s: float) -> Run:
        with _login_load(srv, logins, seconds=s + 2) as rates:
            time.sleep(1.0)
            run = wrk(srv.url + "/me", seconds=s, connections=1, headers=auth)
        login_rates.extend(rates)
        return run

    runs = alternate({"quiet": quiet, "logins": loaded})
    name = f"2 logins vs GET ({argon2.name})"
    rows = [
        Row(
            name,
            "p50 ms",
            "no logins",
            "4 logging in",
            [r.p50_ms for r in runs["quiet"]],
            [r.p50_ms for r in runs["logins"]],
            "<= 10x",
            at_most(10.0),
            unit=" ms",
        ),
        Row(
            name,
            "p99 ms",
            "no logins",
            "4 logging in",
            [r.p99_ms for r in runs["quiet"]],
            [r.p99_ms for r in runs["logins"]],
            "-",
            unit=" ms",
        ),
    ]
    return rows, {**runs_json(runs), "logins_per_second": [round(x, 2) for x in login_rates]}


def login_cost(
    srv: Server, logins: list[str], argon2: Argon2, password_hash: str
) -> tuple[list[Row], Raw]:
    """3: POST /token (password) at concurrency 1 against one in-process verify."""
    hasher = Argon2Hasher(
        memory_cost=argon2.memory_kib, time_cost=argon2.time_cost, parallelism=argon2.parallelism
    )

    def verify(seconds: float) -> Run:
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            if not hasher.verify(PASSWORD, password_hash):
                raise LoadError("the bench password does not verify")
            latencies.append((time.perf_counter() - started) * 1000)
        return Run.of_latencies(latencies, seconds)

    def token(seconds: float) -> Run:
        return wrk(
            srv.url + "/token",
            seconds=seconds,
            connections=1,
            script=(LUA / "login.lua").read_text(),
            args=login_args(logins),
        )

    runs = alternate({"verify": verify, "token": token})
    rows = [
        Row(
            f"3 login cost ({argon2.name})",
            "p50 ms",
            "argon2 verify",
            "POST /token",
            [r.p50_ms for r in runs["verify"]],
            [r.p50_ms for r in runs["token"]],
            "<= 1.10x",
            at_most(1.10),
            unit=" ms",
        ),
    ]
    return rows, runs_json(runs)


# Codes minted per run of scenario 4's code exchange (data.mint_codes): above what one
# 4 s run at -c32 exchanges on an idle two-core machine.
CODES_PER_RUN = 6_000


@dataclass(frozen=True, slots=True)
class Grants:
    """What scenario 4 sends besides refresh tokens: HTTP Basic of a client-credentials
    account and of an introspecting one, the access token it introspects, and one file
    of authorization codes per run."""

    client_basic: str
    introspector_basic: str
    introspected: str
    code_files: list[Path]


def refresh(
    srv: Server,
    stack: Stack,
    tenant: uuid.UUID,
    token_files: list[Path],
    per_file: int,
    grants: Grants,
) -> tuple[list[Row], Raw]:
    """4: refresh_token grants (each with a token of its own) against the bare endpoint,
    and against the same statement driven by pgbench at the same concurrency: the
    ceiling of any server in front of PostgreSQL. Beside them in the same alternation:
    client-credentials grants against their own statements in pgbench, and
    authorization-code exchanges and introspection against the refresh grant."""
    files: Iterator[Path] = iter(token_files)
    codes: Iterator[Path] = iter(grants.code_files)
    ceiling = _rotation_ceiling(stack, tenant)
    account_ceiling = _client_credentials_ceiling(stack, grants.client_basic)

    def bare(s: float) -> Run:
        return wrk(srv.url + "/bench/bare", seconds=s, connections=GUARD_CONNECTIONS)

    def grant(s: float) -> Run:
        run = wrk(
            srv.url + "/token",
            seconds=s,
            connections=GUARD_CONNECTIONS,
            script=(LUA / "refresh.lua").read_text(),
            args=[str(next(files))],
        )
        if run.requests >= per_file:
            raise LoadError(f"refresh tokens ran out ({per_file} per run); make more")
        return run

    def client_credentials(s: float) -> Run:
        return wrk(
            srv.url + "/token",
            seconds=s,
            connections=GUARD_CONNECTIONS,
            script=_form_script("grant_type=client_credentials"),
            headers={"Authorization": f"Basic {grants.client_basic}"},
        )

    def code(s: float) -> Run:
        rest = urllib.parse.urlencode(
            {
                "client_id": data.CODE_CLIENT,
                "redirect_uri": data.CODE_REDIRECT,
                "code_verifier": data.CODE_VERIFIER,
            }
        )
        run = wrk(
            srv.url + "/token",
            seconds=s,
            connections=GUARD_CONNECTIONS,
            script=(LUA / "code.lua").read_text(),
            args=[str(next(codes)), rest],
        )
        if run.requests >= CODES_PER_RUN:
            raise LoadError(f"codes ran out ({CODES_PER_RUN} per run); make more")
        return run

    def introspect(s: float) -> Run:
        return wrk(
            srv.url + "/introspect",
            seconds=s,
            connections=GUARD_CONNECTIONS,
            script=_form_script(f"token={grants.introspected}"),
            headers={"Authorization": f"Basic {grants.introspector_basic}"},
        )

    runs = alternate(
        {
            "bare": bare,
            "refresh": grant,
            "sql": ceiling,
            "code": code,
            "introspect": introspect,
            "client_credentials": client_credentials,
            "client_credentials_sql": account_ceiling,
        }
    )
    rps = {name: [r.rps for r in found] for name, found in runs.items()}
    rows = [
        Row(
            "4 refresh",
            "req/s",
            "bare",
            "refresh grant",
            rps["bare"],
            rps["refresh"],
            ">= 0.30x",
            at_least(0.30),
        ),
        Row(
            "4 refresh",
            "req/s",
            "SQL ceiling (pgbench)",
            "refresh grant",
            rps["sql"],
            rps["refresh"],
            ">= 0.50x",
            at_least(0.50),
        ),
        Row(
            "4 refresh",
            "p99 ms",
            "bare",
            "refresh grant",
            [r.p99_ms for r in runs["bare"]],
            [r.p99_ms for r in runs["refresh"]],
            "-",
            unit=" ms",
        ),
        Row(
            "4 client credentials",
            "req/s",
            "SQL ceiling (pgbench)",
            "client_credentials grant",
            rps["client_credentials_sql"],
            rps["client_credentials"],
            ">= 0.50x",
            at_least(0.50),
        ),
        Row(
            "4 code exchange",
            "req/s",
            "refresh grant",
            "authorization_code grant",
            rps["refresh"],
            rps["code"],
            "-",
        ),
        Row(
            "4 introspection",
            "req/s",
            "refresh grant",
            "POST /introspect (access token)",
            rps["refresh"],
            rps["introspect"],
            ">= 0.50x",
            at_least(0.50),
        ),
    ]
    return rows, runs_json(runs)


def _form_script(body: str) -> str:
    """wrk posting one urlencoded form, the same on every request."""
    return (
        'wrk.method = "POST"\n'
        f'wrk.body = "{body}"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
    )


def _client_credentials_ceiling(stack: Stack, basic: str) -> Step:
    """pgbench at GUARD_CONNECTIONS clients running what a client-credentials grant sends
    PostgreSQL once the process remembers the account's scopes
    (service_accounts.authenticate): bind the tenant, read the account with its tenant's
    status and slug, commit, as the application role."""
    client_id = base64.b64decode(basic).decode().split(":", 1)[0]
    tenant, account = (uuid.UUID(hex=part) for part in client_id.split("_")[1:3])
    sql = f"""BEGIN;
SELECT set_config('app.tenant_id', '{tenant}', true);
SELECT a.*, t.status, t.slug FROM service_accounts a JOIN tenants t ON t.id = a.tenant_id
WHERE a.tenant_id = '{tenant}' AND a.id = '{account}';
COMMIT;
"""  # noqa: S608 (ids the bench made, no input)

    def step(seconds: float) -> Run:
        return pgbench(
            stack.libpq_url(stack.app_url),
            sql,
            seconds=seconds,
            scratch=stack.scratch,
            clients=GUARD_CONNECTIONS,
        )

    return step


def _rotation_ceiling(stack: Stack, tenant: uuid.UUID) -> Step:
    """pgbench at GUARD_CONNECTIONS clients running the refresh grant's statement
    (sessions.rotate's: the rotation and the subject's standing and scopes) and its
    commit, as the application role, each transaction with a token of its own."""
    per_client = CEILING_TOKENS // (GUARD_CONNECTIONS * (ROUNDS + 1))
    runs = iter(range(ROUNDS + 1))
    sql = f"""\\set k :base + :client_id * {per_client} + :i
\\set i :i + 1
BEGIN;
SELECT r.outcome, r.family_id, r.user_id, r.token_id, r.scope, r.used_at, {COLUMNS}
FROM {data.CEILING_TABLE} c,
LATERAL tessera_rotate_refresh_token('{tenant}'::uuid, c.token_hash, c.successor_hash, now(),
  interval '14 days', interval '10 seconds') r
LEFT JOIN LATERAL tessera_token_subject('{tenant}'::uuid, r.user_id, now()) s ON true
WHERE c.n = :k;
COMMIT;
"""  # noqa: S608 (the tenant id and constants, no input)

    def step(seconds: float) -> Run:
        base = next(runs) * per_client * GUARD_CONNECTIONS
        run = pgbench(
            stack.libpq_url(stack.app_url),
            sql,
            seconds=seconds,
            scratch=stack.scratch,
            clients=GUARD_CONNECTIONS,
            variables={"base": str(base), "i": "0"},
        )
        if run.requests >= per_client * GUARD_CONNECTIONS * 0.9:
            raise LoadError(f"ceiling tokens nearly ran out ({per_client} per client); make more")
        return run

    return step


def refresh_files(scratch: Path) -> list[Path]:
    """One token file per run of scenario 4 (the warm-up and every round)."""
    return [scratch / f"refresh-{index}.txt" for index in range(ROUNDS + 1)]


def login_args(logins: list[str]) -> list[str]:
    return [urllib.parse.quote_plus(PASSWORD)] + [urllib.parse.quote_plus(u) for u in logins]


@contextmanager
def _login_load(srv: Server, logins: list[str], *, seconds: float) -> Iterator[list[float]]:
    """wrk logging in from LOGIN_CLIENTS connections for `seconds`, in the background."""
    script = srv.scratch / "login-load.lua"
    script.write_text((LUA / "login.lua").read_text() + (LUA / "report.lua").read_text())
    argv = [
        ensure_wrk(),
        "-t1",
        f"-c{LOGIN_CLIENTS}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        srv.url + "/token",
        "--",
        *login_args(logins),
    ]
    load = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)  # noqa: S603
    rates: list[float] = []
    try:
        yield rates
    finally:
        try:
            out, _ = load.communicate(timeout=seconds + GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            load.kill()
            out, _ = load.communicate()
        rates.extend(_rate(out))


def _rate(out: str) -> list[float]:
    for line in out.splitlines():
        if line.startswith("BENCH_RESULT "):
            raw = json.loads(line.split(" ", 1)[1])
            return [raw["requests"] / (raw["duration_us"] / 1e6)]
    return []
