"""What the bench runs against: its own database, a Redis db, uvicorn and a Celery worker.

The database is created, migrated (which also makes the application role) and dropped
by the bench; the Redis db it uses is emptied before and after. PostgreSQL and Redis
are the local ones on their default ports, or embedded servers when those are absent,
found the same way the test suite finds them.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from pydantic import SecretStr
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from backend.settings import PROJECT_ROOT, Environment, Settings
from tests.support.database import database_urls, drop_database, migrate, recreate_database
from tests.support.services import postgres_admin_url, redis_url

ROOT = PROJECT_ROOT
BIN = Path(sys.executable).parent
DATABASE = f"tessera_bench_{os.getpid()}"
# Redis db 0 is the developers', 1..n the test workers'; the bench takes the last one.
REDIS_DB = 15
SECRET = "bench-secret-" + "x" * 40
# A server or worker imports the app at start-up: on a machine loaded by other work
# (load average 10-20) that alone took over 30 s.
START_TIMEOUT = 90.0


@dataclass(frozen=True, slots=True)
class Argon2:
    """One argon2id setting: memory in KiB, iterations, lanes."""

    name: str
    memory_kib: int
    time_cost: int
    parallelism: int

    def env(self) -> dict[str, str]:
        return {
            "TESSERA_ARGON2_MEMORY_COST_KIB": str(self.memory_kib),
            "TESSERA_ARGON2_TIME_COST": str(self.time_cost),
            "TESSERA_ARGON2_PARALLELISM": str(self.parallelism),
        }


# pwdlib's recommendation (Tessera's default) and OWASP's minimum for argon2id.
RECOMMENDED = Argon2("pwdlib m=64MiB,t=3,p=4", 65_536, 3, 4)
OWASP_MINIMUM = Argon2("OWASP m=19MiB,t=2,p=1", 19_456, 2, 1)


@dataclass
class Stack:
    """Where everything is: URLs, the shared environment of the servers, scratch space."""

    admin_url: str
    owner_url: str
    app_url: str
    redis_url: str
    scratch: Path
    owner: Engine
    base_env: dict[str, str] = field(default_factory=dict)

    def settings(self, algorithm: str = "HS256", argon2: Argon2 = RECOMMENDED) -> Settings:
        """The settings a server started with `server_env(algorithm, argon2)` reads."""
        return Settings(
            env=Environment.DEVELOPMENT,
            var_dir=self.scratch / "var",
            database_url=self.app_url,
            migration_database_url=self.owner_url,
            redis_url=self.redis_url,
            secret_key=SecretStr(SECRET),
            jwt_algorithm=algorithm,
            argon2_memory_cost_kib=argon2.memory_kib,
            argon2_time_cost=argon2.time_cost,
            argon2_parallelism=argon2.parallelism,
            token_rate_limit_per_minute=0,
            access_token_ttl_seconds=3600,
        )

    def server_env(self, algorithm: str = "HS256", argon2: Argon2 = RECOMMENDED) -> dict[str, str]:
        return {**self.base_env, "TESSERA_JWT_ALGORITHM": algorithm, **argon2.env()}

    def libpq_url(self, url: str) -> str:
        """A SQLAlchemy URL as psql and pgbench spell it."""
        return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def bench_stack() -> Iterator[Stack]:
    """A migrated database of the bench's own and an empty Redis db; dropped afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    try:
        with ExitStack() as stack:
            admin = stack.enter_context(postgres_admin_url(ROOT / "var"))
            base_redis = stack.enter_context(redis_url(ROOT / "var"))
            bench_redis = base_redis.rsplit("/", 1)[0] + f"/{REDIS_DB}"
            recreate_database(admin, DATABASE)
            stack.callback(drop_database, admin, DATABASE)
            owner_url, app_url = database_urls(admin, DATABASE)
            built = Stack(
                admin_url=admin,
                owner_url=owner_url,
                app_url=app_url,
                redis_url=bench_redis,
                scratch=scratch,
                owner=create_engine(owner_url, poolclass=NullPool),
            )
            stack.callback(built.owner.dispose)
            migrate(built.settings())
            _flush_redis(bench_redis)
            stack.callback(_flush_redis, bench_redis)
            built.base_env = {
                "TESSERA_ENV": "development",
                "TESSERA_VAR_DIR": str(scratch / "var"),
                "TESSERA_DATABASE_URL": app_url,
                "TESSERA_MIGRATION_DATABASE_URL": owner_url,
                "TESSERA_REDIS_URL": bench_redis,
                "TESSERA_SECRET_KEY": SECRET,
                "TESSERA_TOKEN_RATE_LIMIT_PER_MINUTE": "0",
                "TESSERA_ACCESS_TOKEN_TTL_SECONDS": "3600",
            }
            yield built
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _flush_redis(url: str) -> None:
    with redis.Redis.from_url(url) as client:
        client.flushdb()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Process:
    """A child process of the bench: started with an environment, stopped by its pid."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self._log = log.open("wb")
        self._child = subprocess.Popen(  # noqa: S603 (fixed argv)
            argv,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self._child.pid

    def alive(self) -> bool:
        return self._child.poll() is None

    def rss_mb(self) -> float:
        """Resident memory now, from /proc (MiB)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"{self.name}: no VmRSS")

    def cpu_seconds(self) -> float:
        """User and system CPU time the process has used so far, from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.alive():
            self._child.terminate()
            try:
                self._child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait()
        self._log.close()


class Server(Process):
    """uvicorn serving a bench app on 127.0.0.1 (Tessera's unless `factory` names another,
    ready once `ready_path` answers 200): one worker process unless told."""

    def __init__(
        self,
        stack: Stack,
        env: Mapping[str, str],
        tag: str,
        workers: int = 1,
        *,
        factory: str = "bench.app:create_bench_app",
        ready_path: str = "/readyz",
    ) -> None:
        self.scratch = stack.scratch
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._ready_path = ready_path
        argv = [
            str(BIN / "uvicorn"),
            factory,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
            "--log-level",
            "warning",
            *(["--workers", str(workers)] if workers > 1 else []),
        ]
        super().__init__(f"uvicorn-{tag}", argv, env, stack.scratch / f"uvicorn-{tag}.log")
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited; see its log")
            try:
                ready = f"{self.url}{self._ready_path}"
                with urllib.request.urlopen(ready, timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {START_TIMEOUT:.0f}s")


@contextmanager
def server(
    stack: Stack, env: Mapping[str, str], tag: str, workers: int = 1, **options: str
) -> Iterator[Server]:
    running = Server(stack, env, tag, workers, **options)
    try:
        yield running
    finally:
        running.stop()


@contextmanager
def worker(stack: Stack, env: Mapping[str, str]) -> Iterator[Process]:
    """One Celery worker, solo pool: the task runs in the process whose memory we read."""
    argv = [
        str(BIN / "celery"),
        "-A",
        "backend.worker.app",
        "worker",
        "--pool",
        "solo",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    log = stack.scratch / "celery.log"
    running = Process("celery", argv, env, log)
    try:
        _wait_for_worker(running, log)
        yield running
    finally:
        running.stop()


def _wait_for_worker(process: Process, log: Path) -> None:
    """Ready once the worker says so in its log (Celery's "ready." line, at INFO)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"celery worker exited; see {log}")
        if b" ready." in log.read_bytes():
            return
        time.sleep(0.2)
    raise RuntimeError(f"celery worker not ready after {START_TIMEOUT:.0f}s")
