"""The CLI run as operators run it: the `tessera` console script, a separate process."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable

import pytest

from backend.settings import Settings

# The worker suite's fixture (the import commands need a real worker), and its env.
from tests.integration.worker.conftest import start_worker, worker_env  # noqa: F401

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
