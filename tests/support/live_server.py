"""A real uvicorn process serving the API on 127.0.0.1, for suites that need one.

The fault and browser suites talk to the API over TCP, kill it, or point a browser at
it; in-process clients cannot do that. Every wait here is bounded, and the server gets
SIGTERM if the test process dies (PR_SET_PDEATHSIG), so nothing outlives a run.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from backend.devstack.processes import terminate_with_parent
from backend.settings import PROJECT_ROOT, Settings

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def server_env(settings: Settings, var_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of an API process that uses this test worker's settings."""
    assert settings.secret_key is not None
    env = {
        **os.environ,
        "TESSERA_ENV": "test",
        "TESSERA_VAR_DIR": str(var_dir),
        "TESSERA_DATABASE_URL": settings.database_url,
        "TESSERA_MIGRATION_DATABASE_URL": settings.owner_database_url,
        "TESSERA_REDIS_URL": settings.redis_url,
        "TESSERA_SECRET_KEY": settings.secret_key.get_secret_value(),
        "TESSERA_ARGON2_MEMORY_COST_KIB": str(settings.argon2_memory_cost_kib),
        "TESSERA_ARGON2_TIME_COST": str(settings.argon2_time_cost),
        "TESSERA_ARGON2_PARALLELISM": str(settings.argon2_parallelism),
        "TESSERA_TOKEN_RATE_LIMIT_PER_MINUTE": "0",
        "TESSERA_LOG_FORMAT": "text",
    }
    # A multiprocess metrics directory left in the environment would be shared.
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(overrides)
    return env


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as when a host or container dies."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


def start_server(env: dict[str, str], log: Path, *, port: int | None = None) -> LiveServer:
    """Start `uvicorn backend.main:create_app` and wait until /healthz answers."""
    chosen = port or free_port()
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "backend.main:create_app", "--factory",
                "--host", HOST, "--port", str(chosen), "--timeout-graceful-shutdown", "5",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=terminate_with_parent(),
        )  # fmt: skip
    server = LiveServer(process=process, port=chosen, log=log)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(
        f"uvicorn did not answer within {STARTUP_TIMEOUT_S:.0f}s:\n{server.output()}"
    )
