"""The `tessera` console script, run as operators run it: a separate process."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from backend.settings import Settings


@pytest.fixture
def run_cli(settings: Settings):  # type: ignore[no-untyped-def]
    executable = shutil.which("tessera", path=os.path.dirname(sys.executable))
    assert executable, "the tessera console script is not installed"
    assert settings.secret_key is not None
    env = {
        **os.environ,
        "TESSERA_ENV": "test",
        "TESSERA_DATABASE_URL": settings.database_url,
        "TESSERA_REDIS_URL": settings.redis_url,
        "TESSERA_SECRET_KEY": settings.secret_key.get_secret_value(),
        "TESSERA_ARGON2_MEMORY_COST_KIB": str(settings.argon2_memory_cost_kib),
        "TESSERA_ARGON2_TIME_COST": str(settings.argon2_time_cost),
        "TESSERA_ARGON2_PARALLELISM": str(settings.argon2_parallelism),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [executable, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    return run


def login(client: TestClient, username: str, password: str) -> int:
    return client.post(
        "/token", data={"grant_type": "password", "username": username, "password": password}
    ).status_code


def test_create_tenant_makes_an_owner_who_can_log_in(run_cli, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(
        "create-tenant", "acme", "--name", "Acme", "--owner-email", "boss@acme.test",
        "--owner-password", "a long enough passphrase",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "created tenant acme" in result.stdout
    assert "a long enough passphrase" not in result.stdout + result.stderr
    assert login(client, "acme/boss@acme.test", "a long enough passphrase") == 200

    token = client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": "acme/boss@acme.test",
            "password": "a long enough passphrase",
        },
    ).json()["access_token"]
    me = client.get("/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["roles"] == ["owner"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad_Slug", "--name", "X", "--owner-email", "a@x.test", "--owner-password", "p" * 12],
         "invalid tenant slug"),
        (["shorty", "--name", "X", "--owner-email", "a@x.test", "--owner-password", "short"],
         "at least 12 characters"),
    ],
    ids=["bad-slug", "weak-password"],
)  # fmt: skip
def test_bad_input_exits_2_with_a_reason(run_cli, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("create-tenant", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_duplicate_slug_is_refused_and_changes_nothing(run_cli, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    first = ["create-tenant", "acme", "--name", "A", "--owner-email", "a@acme.test"]
    assert run_cli(*first, "--owner-password", "first passphrase!").returncode == 0
    second = run_cli(
        "create-tenant", "acme", "--name", "B", "--owner-email", "b@acme.test",
        "--owner-password", "second passphrase",
    )  # fmt: skip
    assert second.returncode == 2
    assert "already exists" in second.stderr
    assert login(client, "acme/b@acme.test", "second passphrase") == 400
    assert login(client, "acme/a@acme.test", "first passphrase!") == 200


def test_demo_tenant_is_created_once_with_a_printed_password(run_cli, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    first = run_cli("ensure-demo-tenant")
    assert first.returncode == 0, first.stderr
    match = re.search(r"password (\S+)", first.stdout)
    assert match, first.stdout
    assert login(client, "demo/owner@demo.test", match.group(1)) == 200

    again = run_cli("ensure-demo-tenant")
    assert again.returncode == 0
    assert "already exists" in again.stdout
    assert match.group(1) not in again.stdout
    assert login(client, "demo/owner@demo.test", match.group(1)) == 200
