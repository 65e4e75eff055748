"""9: grants per vCPU at saturation, beside Keycloak's published sizing figures.

Each grant runs at saturation against uvicorn with 1 and with 2 worker processes (both
servers up, runs alternated), and its rate is divided by the CPU seconds that the API's
processes and the bench database's PostgreSQL backends used meanwhile (`bench/cpu.py`):
a rate per vCPU consumed, whatever the machine. Logins are measured with Tessera's
default argon2 and with Keycloak's, so the comparison with Keycloak's figure is at equal
hashing. Also per grant: commits of the bench database and WAL bytes of the server.
"""

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from backend.security.passwords import PasswordService
from bench import data
from bench.cpu import Meter
from bench.load import LUA, LoadError, Run, wrk
from bench.measure import ROUNDS, Row, alternate, at_least
from bench.scenarios_http import login_args
from bench.stack import RECOMMENDED, Argon2, Server, Stack, server

# Keycloak's sizing guide ("Concepts for sizing CPU and memory resources"): vCPUs of the
# Keycloak cluster per rate, its database's CPU not counted. Reference constants, not
# measurements.
KEYCLOAK_SOURCE = "https://www.keycloak.org/high-availability/concepts-memory-and-cpu-sizing"
KEYCLOAK_PER_VCPU = {"password": 15.0, "refresh_token": 120.0, "client_credentials": 120.0}
# Keycloak's default argon2id parameters: 7,168 KiB of memory, 5 iterations, 1 lane.
KEYCLOAK_ARGON2 = Argon2("Keycloak m=7MiB,t=5,p=1", 7_168, 5, 1)
TARGET = 10.0
WORKERS = (1, 2)
GRANT_CONNECTIONS = 32
LOGIN_CONNECTIONS = 8
# A login at the default argon2 takes ~0.1 s of two cores, seconds on a loaded machine:
# a short run (the 1 s warm-up) may see none complete.
LOGIN_MIN_SECONDS = 6.0
# On a machine loaded by other work a grant now and then times out waiting (a 503):
# counted and left out of the rate, up to this share of a run.
FAILED_SHARE = 0.1
# A backend reports its commit counts within a second of going idle (PostgreSQL 15).
STATS_FLUSH_SECONDS = 1.2

Raw = dict[str, object]


@dataclass(frozen=True, slots=True)
class Rate:
    """One run at saturation: what it served and what it cost."""

    # Answered with a 200; `failed` were answered otherwise (counted by wrk).
    requests: int
    failed: int
    seconds: float
    api_cpu_seconds: float
    postgres_cpu_seconds: float
    commits: int
    wal_bytes: int
    new_connections: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def per_vcpu(self) -> float:
        """Requests per CPU second of the API and PostgreSQL together."""
        return self.requests / max(self.api_cpu_seconds + self.postgres_cpu_seconds, 1e-9)


@dataclass(frozen=True, slots=True)
class Counters:
    commits: int
    sessions: int
    wal_lsn: str


def counters(owner: Engine) -> Counters:
    """The bench database's commits and sessions so far, and the server's WAL position."""
    with owner.connect() as connection:
        row = connection.execute(
            text(
                "SELECT xact_commit, sessions, pg_current_wal_lsn()::text "
                "FROM pg_stat_database WHERE datname = current_database()"
            )
        ).one()
    return Counters(int(row[0]), int(row[1]), str(row[2]))


def wal_between(owner: Engine, before: str, after: str) -> int:
    with owner.connect() as connection:
        return int(
            connection.scalar(
                text("SELECT pg_wal_lsn_diff(CAST(:a AS pg_lsn), CAST(:b AS pg_lsn))"),
                {"a": after, "b": before},
            )
            or 0
        )


def measured(srv: Server, owner: Engine, load: Callable[[float], Run]) -> Callable[[float], Run]:
    """`load` as an alternation step that also records the Rate of each run."""
    rates: list[Rate] = []

    def step(seconds: float) -> Run:
        before = counters(owner)
        meter = Meter(srv.pid, owner)
        meter.start()
        run = load(seconds)
        usage = meter.stop()
        if run.errors > FAILED_SHARE * run.requests:
            raise LoadError(f"{run.errors} of {run.requests} grants failed")
        time.sleep(STATS_FLUSH_SECONDS)
        after = counters(owner)
        rates.append(
            Rate(
                requests=run.requests - run.errors,
                failed=run.errors,
                seconds=run.seconds,
                api_cpu_seconds=usage.api_seconds,
                postgres_cpu_seconds=usage.postgres_seconds,
                commits=after.commits - before.commits,
                wal_bytes=wal_between(owner, before.wal_lsn, after.wal_lsn),
                new_connections=after.sessions - before.sessions,
            )
        )
        return run

    step.rates = rates  # type: ignore[attr-defined]
    return step


def rates_of(step: Callable[[float], Run]) -> list[Rate]:
    """A measured step's rates, the warm-up's dropped."""
    found: list[Rate] = step.rates  # type: ignore[attr-defined]
    return found[1:]


def per_vcpu(
    stack: Stack, made: data.Dataset, token_files: list[Path], per_file: int
) -> tuple[list[Row], Raw]:
    """9: the three grants per vCPU at 1 and 2 workers; logins at both argon2 settings."""
    rows: list[Row] = []
    raw: Raw = {"keycloak_source": KEYCLOAK_SOURCE, "keycloak_per_vcpu": KEYCLOAK_PER_VCPU}
    client_id, secret = data.add_service_account(stack.owner, made.small_tenant)
    files: Iterator[Path] = iter(token_files)
    for argon2 in (RECOMMENDED, KEYCLOAK_ARGON2):
        data.set_passwords(stack.owner, _passwords(stack, argon2), made.small_tenant)
        env = stack.server_env("HS256", argon2)
        with (
            server(stack, {**env, **_pool(1)}, "rates-1", 1) as one,
            server(stack, {**env, **_pool(2)}, "rates-2", 2) as two,
        ):
            servers = {1: one, 2: two}
            grants: dict[str, Callable[[Server], Callable[[float], Run]]] = {
                "password": lambda srv: _logins(srv, made.login_users)
            }
            if argon2 is RECOMMENDED:
                grants["refresh_token"] = lambda srv: _refreshes(srv, files, per_file)
                grants["client_credentials"] = lambda srv: _client_credentials(
                    srv, client_id, secret
                )
            for grant, load in grants.items():
                steps = {n: measured(srv, stack.owner, load(srv)) for n, srv in servers.items()}
                alternate({f"{n} worker(s)": step for n, step in steps.items()})
                label = f"{grant} ({argon2.name})" if grant == "password" else grant
                found = {n: rates_of(step) for n, step in steps.items()}
                rows += rate_rows(label, KEYCLOAK_PER_VCPU[grant], found)
                raw[label] = {f"{n}_workers": [asdict(r) for r in rs] for n, rs in found.items()}
    return rows, raw


def rate_rows(label: str, keycloak: float, found: dict[int, list[Rate]]) -> list[Row]:
    """Per worker count: per vCPU against Keycloak, commits and WAL per grant; then 2
    workers' rate against 1 worker's."""
    rows = []
    for workers, rates in found.items():
        name = f"9 per vCPU, {workers} worker{'s' if workers > 1 else ''}"
        rows.append(
            Row(
                name,
                "per vCPU-s",
                "Keycloak (published)",
                label,
                [keycloak] * len(rates),
                [r.per_vcpu for r in rates],
                f">= {TARGET:.0f}x",
                at_least(TARGET),
            )
        )
        if label.startswith("password"):
            continue
        grants = [float(r.requests) for r in rates]
        rows.append(
            Row(
                name,
                "per grant",
                "grants",
                f"{label} commits",
                grants,
                _each(rates, "commits"),
                "-",
            )
        )
        rows.append(
            Row(
                name,
                "per grant",
                "grants",
                f"{label} WAL bytes",
                grants,
                _each(rates, "wal_bytes"),
                "-",
            )
        )
    one, two = found[WORKERS[0]], found[WORKERS[1]]
    rows.append(
        Row(
            "9 workers",
            "req/s",
            "1 worker",
            f"{label}, 2 workers",
            [r.per_second for r in one],
            [r.per_second for r in two],
            "-",
        )
    )
    return rows


def _passwords(stack: Stack, argon2: Argon2) -> PasswordService:
    return PasswordService(stack.settings("HS256", argon2))


def _pool(workers: int) -> dict[str, str]:
    """Each process's pool sized to its share of the load's connections: the default (40
    per process) for three processes at once would hold more connections than a shared
    PostgreSQL's 100 allow."""
    return {"TESSERA_DATABASE_POOL_SIZE": str(GRANT_CONNECTIONS // workers)}


def _each(rates: list[Rate], name: str) -> list[float]:
    return [float(getattr(rate, name)) for rate in rates]


def _logins(srv: Server, users: list[str]) -> Callable[[float], Run]:
    script = (LUA / "login.lua").read_text()
    return lambda s: wrk(
        srv.url + "/token",
        seconds=max(s, LOGIN_MIN_SECONDS),
        connections=LOGIN_CONNECTIONS,
        script=script,
        args=login_args(users),
        allow_errors=True,
    )


def _refreshes(srv: Server, files: Iterator[Path], per_file: int) -> Callable[[float], Run]:
    script = (LUA / "refresh.lua").read_text()

    def load(seconds: float) -> Run:
        run = wrk(
            srv.url + "/token",
            seconds=seconds,
            connections=GRANT_CONNECTIONS,
            script=script,
            args=[str(next(files))],
            allow_errors=True,
        )
        if run.requests >= per_file:
            raise LoadError(f"refresh tokens ran out ({per_file} per run); make more")
        return run

    return load


def _client_credentials(srv: Server, client_id: str, secret: str) -> Callable[[float], Run]:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    script = (
        'wrk.method = "POST"\n'
        'wrk.body = "grant_type=client_credentials"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
    )
    return lambda s: wrk(
        srv.url + "/token",
        seconds=s,
        connections=GRANT_CONNECTIONS,
        script=script,
        headers={"Authorization": f"Basic {basic}"},
        allow_errors=True,
    )


def token_files(scratch: Path) -> list[Path]:
    """One refresh-token file per run: both servers, the warm-up and every round."""
    return [scratch / f"rates-refresh-{i}.txt" for i in range(len(WORKERS) * (ROUNDS + 1))]
