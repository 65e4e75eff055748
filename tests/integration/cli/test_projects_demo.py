"""`tessera ensure-projects-demo`: make run's set-up for the projects example's feed."""

import re
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from examples.projects.settings import API_FILE, ApiDeclaration
from tests.integration.cli.conftest import RunCli

PROJECTS = ApiDeclaration.load().identifier


def feed_token(client: TestClient, credentials: dict[str, str]) -> httpx.Response:
    return client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "standings:read"},
        auth=(credentials["PROJECTS_CLIENT_ID"], credentials["PROJECTS_CLIENT_SECRET"]),
    )


def written(path: Path) -> dict[str, str]:
    assert path.stat().st_mode & 0o777 == 0o600
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_it_makes_the_platform_and_a_feed_account_and_rotates_its_secret(
    run_cli: RunCli, client: TestClient, tmp_path: Path
) -> None:
    path = tmp_path / "projects-feed.env"
    first = run_cli("ensure-projects-demo", "--credentials", str(path))
    assert first.returncode == 0, first.stderr
    credentials = written(path)
    assert credentials["PROJECTS_CLIENT_SECRET"] not in first.stdout + first.stderr
    # The platform tenant was missing: it is made with an operator, whose password is
    # shown this once.
    match = re.search(r"operator operator@demo.test, password (\S+)", first.stdout)
    assert match, first.stdout
    operator = client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": "platform/operator@demo.test",
            "password": match.group(1),
        },
    )
    assert operator.status_code == 200, operator.text
    granted = feed_token(client, credentials)
    assert granted.status_code == 200, granted.text
    assert granted.json()["scope"] == "standings:read"
    snapshot = client.get(
        "/standings", headers={"Authorization": f"Bearer {granted.json()['access_token']}"}
    )
    assert snapshot.status_code == 200

    again = run_cli("ensure-projects-demo", "--credentials", str(path))
    assert again.returncode == 0, again.stderr
    assert "password" not in again.stdout
    rotated = written(path)
    assert rotated["PROJECTS_CLIENT_ID"] == credentials["PROJECTS_CLIENT_ID"]
    assert rotated["PROJECTS_CLIENT_SECRET"] != credentials["PROJECTS_CLIENT_SECRET"]
    assert feed_token(client, rotated).status_code == 200
    assert feed_token(client, credentials).status_code == 401
    # The tokens the old secret obtained end with it.
    old = {"Authorization": f"Bearer {granted.json()['access_token']}"}
    assert client.get("/standings", headers=old).status_code == 401


def demo_roles(client: TestClient, password: str) -> dict[str, list[str]]:
    login = client.post(
        "/token",
        data={"grant_type": "password", "username": "demo/owner@demo.test", "password": password},
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    me = client.get("/me", headers=headers).json()
    listed = client.get("/roles", headers=headers).json()
    roles = listed["items"] if isinstance(listed, dict) else listed
    return {role["name"]: role["scopes"] for role in roles if role["name"] in me["roles"]}


def test_the_demo_owner_gets_an_editor_role_of_the_registered_apis_scopes(
    run_cli: RunCli, client: TestClient, platform_operator: None
) -> None:
    missing = run_cli("ensure-demo-tenant", "--editor-of", PROJECTS)
    assert missing.returncode == 0, missing.stderr
    assert "no API" in missing.stdout
    password = re.search(r"password (\S+)", missing.stdout)
    assert password, missing.stdout
    assert "editor" not in demo_roles(client, password.group(1))

    assert run_cli("apis", "apply", str(API_FILE)).returncode == 0
    made = run_cli("ensure-demo-tenant", "--editor-of", PROJECTS)
    assert made.returncode == 0, made.stderr
    assert "role editor (projects:read projects:write) held by the owner" in made.stdout
    assert demo_roles(client, password.group(1))["editor"] == ["projects:read", "projects:write"]
    # Again: nothing more (one role, one grant).
    again = run_cli("ensure-demo-tenant", "--editor-of", PROJECTS)
    assert again.returncode == 0, again.stderr
    assert demo_roles(client, password.group(1))["editor"] == ["projects:read", "projects:write"]
