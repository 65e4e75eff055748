"""Running deploy/entrypoint.sh as operators do: real processes on 127.0.0.1 only."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from backend.settings import PROJECT_ROOT, Settings

ENTRYPOINT = PROJECT_ROOT / "deploy" / "entrypoint.sh"


def stack_env(settings: Settings, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The environment of a deployed process, pointed at this test worker's services."""
    assert settings.secret_key is not None
    env = {
        **os.environ,
        # The venv first, as the image's PATH has its own.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TMPDIR": str(tmp_path),
        "TESSERA_ENV": "test",
        "TESSERA_VAR_DIR": str(tmp_path / "var"),
        "TESSERA_DATABASE_URL": settings.database_url,
        "TESSERA_MIGRATION_DATABASE_URL": settings.owner_database_url,
        "TESSERA_REDIS_URL": settings.redis_url,
        "TESSERA_SECRET_KEY": settings.secret_key.get_secret_value(),
        "TESSERA_ARGON2_MEMORY_COST_KIB": str(settings.argon2_memory_cost_kib),
        "TESSERA_ARGON2_TIME_COST": str(settings.argon2_time_cost),
        "TESSERA_ARGON2_PARALLELISM": str(settings.argon2_parallelism),
        "TESSERA_TOKEN_RATE_LIMIT_PER_MINUTE": "0",
        "TESSERA_HOST": "127.0.0.1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(overrides)
    return env


@dataclass
class Started:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self) -> None:
        """SIGTERM, to the entrypoint's process: it exec'd the server, so the server."""
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} still running after {timeout:.0f}s:\n{self.output()}")

    def stop(self, timeout: float) -> int:
        """SIGTERM, then the exit code."""
        self.terminate()
        return self.wait(timeout)


Starter = Callable[..., Started]


@pytest.fixture
def start_role(tmp_path: Path) -> Iterator[Starter]:
    """Start `entrypoint.sh <role>` in its own session; whatever is left is killed after."""
    started: list[Started] = []

    def start(role: str, env: dict[str, str], *args: str) -> Started:
        log = tmp_path / f"{role}-{len(started)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [str(ENTRYPOINT), role, *args],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        handle = Started(role, process, log)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        if handle.process.poll() is None:
            os.killpg(handle.process.pid, signal.SIGKILL)
            handle.process.wait(timeout=10)


def run_role(
    role: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ENTRYPOINT), role],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `condition`; bounded, so a stuck process fails the test rather than CI."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
