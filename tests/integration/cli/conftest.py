"""The CLI run as operators run it: the `tessera` console script, a separate process."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from backend.services.effects import Effects
from backend.settings import Settings

# The worker suite's fixture (the import commands need a real worker), and its env.
from tests.integration.worker.conftest import start_worker, worker_env  # noqa: F401
from tests.support.platform import create_operator

RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli(settings: Settings) -> RunCli:
    """Run `tessera ARGS...` against the test database and Redis; extra env as keywords."""
    executable = shutil.which("tessera", path=os.path.dirname(sys.executable))
    assert executable, "the tessera console script is not installed"

    def run(
        *args: str, timeout: float = 60, cwd: str | None = None, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [executable, *args],
            env=worker_env(settings, **extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=cwd,
        )

    return run


def assert_refused(result: subprocess.CompletedProcess[str], line: int, reason: str) -> None:
    """An `apply` refused its file: exit 2, the line and the reason on stderr."""
    assert result.returncode == 2, result.stdout
    assert f"line {line}" in result.stderr
    assert reason in result.stderr


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a command that must have exited 0."""
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def platform_operator(db: Session, effects: Effects, settings: Settings) -> None:
    """The platform tenant and its operator, which `... apply` audits its changes in."""
    create_operator(db, effects, settings, "violet otters juggle lanterns")


def manifest(tmp_path: Path, name: str, text: str) -> str:
    """The path of a file `name` holding `text`, for an `apply` to read."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)
