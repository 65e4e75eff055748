"""The README's path: `make run` in one shell, the `tessera` CLI in a second one.

Both are real processes with a newcomer's environment (no TESSERA_DATABASE_URL, no
TESSERA_REDIS_URL), sharing only the var dir, so the CLI can reach the embedded servers
of `make run` only through what `make run` publishes there.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from backend.devstack.embedded import with_credentials
from backend.devstack.processes import terminate_with_parent
from backend.settings import PROJECT_ROOT
from tests.support.ports import free_port

# Embedded PostgreSQL's first start, migrations, the demo tenant, then the API's start:
# about 25 s on a busy two-core machine.
STARTUP_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
PASSWORD = "a long enough passphrase"
README_COMMAND = [
    "create-tenant", "acme", "--name", "Acme Inc", "--owner-email", "boss@acme.test",
    "--owner-password", PASSWORD,
]  # fmt: skip


def newcomer_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """A shell with no Tessera configuration but the var dir, and cheap password hashes."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("TESSERA_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return {
        **env,
        "TESSERA_VAR_DIR": str(var_dir),
        # Only to spare the CPU: hashing is not what this path is about.
        "TESSERA_ARGON2_MEMORY_COST_KIB": "64",
        "TESSERA_ARGON2_TIME_COST": "1",
        "TESSERA_ARGON2_PARALLELISM": "1",
        **extra,
    }


def tessera(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`.venv/bin/tessera ARGS` from the repository root, as the README runs it."""
    executable = shutil.which("tessera", path=os.path.dirname(sys.executable))
    assert executable, "the tessera console script is not installed"
    return subprocess.run(
        [executable, *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class DevStack:
    process: subprocess.Popen[bytes]
    var_dir: Path
    url: str
    log: Path
    projects_url: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self) -> str:
        """The end of the output, for a failure's message."""
        return self.output()[-4000:]

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C would: a clean stop. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@pytest.fixture
def dev_stack(tmp_path: Path) -> Iterator[DevStack]:
    """`make run`, that is `python -m backend.devstack.run`, until it serves."""
    var_dir = tmp_path / "var"
    port, projects_port = free_port(), free_port()
    log = tmp_path / "devstack.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend.devstack.run"],
            cwd=PROJECT_ROOT,
            env=newcomer_env(
                var_dir,
                TESSERA_PORT=str(port),
                # Its own SMTP sink's port: another run may hold the default one.
                TESSERA_SMTP_PORT=str(free_port()),
                TESSERA_LOG_FORMAT="text",
                PROJECTS_PORT=str(projects_port),
            ),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=terminate_with_parent(),
        )
    stack = DevStack(
        process, var_dir, f"http://127.0.0.1:{port}", log, f"http://127.0.0.1:{projects_port}"
    )
    try:
        _wait_until_serving(stack)
        yield stack
    finally:
        stack.stop()


def _wait_until_serving(stack: DevStack, url: str | None = None) -> None:
    url = url or stack.url
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            pytest.fail(f"make run exited with {stack.process.returncode}:\n{stack.tail()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not serve within {STARTUP_TIMEOUT_S:.0f}s:\n{stack.tail()}")


def test_make_run_starts_the_projects_example_too(dev_stack: DevStack) -> None:
    _wait_until_serving(dev_stack, dev_stack.projects_url)
    assert f"Projects      {dev_stack.projects_url}" in dev_stack.output()
    assert f"Mails         written to {dev_stack.var_dir / 'mail'}/*.eml" in dev_stack.output()
    # Guarded by the kit, which discovered the API's keys: no token, an RFC 6750 401.
    refused = httpx.get(f"{dev_stack.projects_url}/projects", timeout=10)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    token_url = httpx.get(f"{dev_stack.projects_url}/openapi.json", timeout=10).json()[
        "components"
    ]["securitySchemes"]["Tessera"]["flows"]["authorizationCode"]["tokenUrl"]
    assert token_url.startswith(dev_stack.url)
    # It follows the standings feed with the account make run made for it: its snapshot
    # is in Tessera's request counts, and the credentials' file is gone once handed on.
    metrics = httpx.get(f"{dev_stack.url}/metrics", timeout=10).text
    assert re.search(
        r'tessera_http_requests_total\{[^}]*route="/standings"[^}]*status="200"', metrics
    ), metrics
    assert not (dev_stack.var_dir / "projects-feed.env").exists()
    log = dev_stack.log.read_text()
    assert "plan: 3 to add" in log  # the example's API, registered
    # The demo owner holds the editor role: a token for the API, and a project made.
    password = re.search(r"owner owner@demo.test, password (\S+)", log)
    assert password, log[-4000:]
    login = httpx.post(
        f"{dev_stack.url}/token",
        data={
            "grant_type": "password",
            "username": "demo/owner@demo.test",
            "password": password.group(1),
            "resource": "https://api.example.com/projects",
        },
        timeout=10,
    )
    assert login.status_code == 200, login.text
    assert login.json()["scope"] == "projects:read projects:write"
    created = httpx.post(
        f"{dev_stack.projects_url}/projects",
        json={"name": "Apollo"},
        headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    assert dev_stack.stop() == 0, dev_stack.tail()


def test_the_readme_create_tenant_works_in_a_second_shell(dev_stack: DevStack) -> None:
    second_shell = newcomer_env(dev_stack.var_dir)
    created = tessera(*README_COMMAND, env=second_shell)
    assert created.returncode == 0, created.stderr
    assert "created tenant acme" in created.stdout

    login = httpx.post(
        f"{dev_stack.url}/token",
        data={"grant_type": "password", "username": "acme/boss@acme.test", "password": PASSWORD},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    me = httpx.get(
        f"{dev_stack.url}/me",
        headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        timeout=10,
    )
    assert me.json()["tenant"]["slug"] == "acme"

    # `make migrate` reads the same file: at head already, it is a no-op that succeeds.
    migrate = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=PROJECT_ROOT,
        env=second_shell,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr

    published = dev_stack.var_dir / "devstack.env"
    assert published.stat().st_mode & 0o777 == 0o600
    assert dev_stack.stop() == 0, dev_stack.tail()
    assert not published.exists()


def _assert_one_line_refusal(result: subprocess.CompletedProcess[str], tried: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    message = result.stderr.rstrip("\n")
    assert "\n" not in message, message
    assert message.startswith("tessera: error: cannot connect to the database at ")
    assert tried in message
    assert "start `make run`" in message
    assert "set TESSERA_DATABASE_URL" in message


def test_no_database_and_no_dev_stack_is_one_line_and_exit_2(tmp_path: Path) -> None:
    refused = f"postgresql+psycopg://tessera_app:***@127.0.0.1:{free_port()}/tessera"
    result = tessera(
        *README_COMMAND,
        env=newcomer_env(tmp_path, TESSERA_DATABASE_URL=refused.replace("***", "secret")),
    )
    _assert_one_line_refusal(result, refused)
    assert "secret" not in result.stderr


def test_an_unknown_role_is_one_line_and_exit_2(tmp_path: Path, admin_database_url: str) -> None:
    url = with_credentials(admin_database_url, user="no_such_role", password=None, database="x")
    result = tessera(*README_COMMAND, env=newcomer_env(tmp_path, TESSERA_DATABASE_URL=url))
    _assert_one_line_refusal(result, "no_such_role@")
    assert 'role "no_such_role" does not exist' in result.stderr


def test_a_dev_stack_that_is_gone_is_one_line_and_exit_2(tmp_path: Path) -> None:
    # What a SIGKILLed `make run` leaves: the file, naming servers that no longer run.
    socket_dir = tmp_path / "var" / "postgres"
    gone = f"postgresql+psycopg://tessera_app:tessera_app@/tessera?host={socket_dir}"
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "devstack.env").write_text(f"TESSERA_DATABASE_URL='{gone}'\n")
    result = tessera(*README_COMMAND, env=newcomer_env(tmp_path / "var"))
    _assert_one_line_refusal(result, f"@/tessera?host={socket_dir}")
