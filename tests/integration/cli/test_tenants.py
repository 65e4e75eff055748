"""The `tessera` console script, run as operators run it: a separate process."""

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Tenant


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


def test_create_platform_admin_bootstraps_the_platform_tenant(run_cli, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    first = run_cli(
        "create-platform-admin", "ops@platform.test", "--password", "violet otters juggle"
    )
    assert first.returncode == 0, first.stderr
    assert "created platform tenant platform" in first.stdout
    assert "violet otters juggle" not in first.stdout + first.stderr

    second = run_cli(
        "create-platform-admin", "ops2@platform.test", "--password", "amber heron crosses"
    )
    assert second.returncode == 0, second.stderr
    assert "created platform tenant" not in second.stdout

    for email, password in [("ops", "violet otters juggle"), ("ops2", "amber heron crosses")]:
        response = client.post(
            "/token",
            data={
                "grant_type": "password",
                "username": f"platform/{email}@platform.test",
                "password": password,
            },
        )
        assert response.status_code == 200, response.text
        assert {"tenants:read", "tenants:write", "users:write"} <= set(
            response.json()["scope"].split()
        )
        token = response.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/me", headers=headers).json()["roles"] == ["owner", "platform-admin"]
        listed = client.get("/tenants", headers=headers).json()
        assert [t["slug"] for t in listed["items"]] == ["platform"]


def test_create_platform_admin_refuses_an_existing_user(run_cli, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    args = ["create-platform-admin", "ops@platform.test", "--password"]
    assert run_cli(*args, "violet otters juggle").returncode == 0
    again = run_cli(*args, "amber heron crosses")
    assert again.returncode == 2
    assert "is already a user of the platform tenant" in again.stderr
    assert "Traceback" not in again.stderr
    assert login(client, "platform/ops@platform.test", "amber heron crosses") == 400
    assert login(client, "platform/ops@platform.test", "violet otters juggle") == 200

    weak = run_cli("create-platform-admin", "ops2@platform.test", "--password", "short")
    assert weak.returncode == 2
    assert "at least 12 characters" in weak.stderr


def test_create_platform_admin_names_the_tenant_from_the_environment(run_cli, db: Session) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(
        "create-platform-admin", "ops@ops.test", "--password", "violet otters juggle",
        TESSERA_PLATFORM_TENANT_SLUG="operators",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "created platform tenant operators" in result.stdout
    assert db.scalars(select(Tenant.slug)).all() == ["operators"]
