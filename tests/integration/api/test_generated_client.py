"""A typed client generated from the app's OpenAPI works against a live server.

openapi-python-client reads only the JSON document (no network), writes a package into
a temporary directory, and the test drives an admin's first steps through it over TCP:
log in, create a user, create a role, grant it, read the user's effective scopes. A
schema a generator cannot use (names it drops, bodies it cannot build, answers it
cannot parse) fails here, not in a customer's build.
"""

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy.orm import Session

from backend.settings import Settings
from tests.conftest import builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory
from tests.support.live_server import LiveServer, server_env, start_server
from tests.support.openapi import openapi_document

PACKAGE = "tessera_client"
# No post-generation hooks: they would run ruff over the generated code.
GENERATOR_CONFIG = {"package_name_override": PACKAGE, "post_hooks": []}


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[ModuleType]:
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(openapi_document()))
    config = tmp_path / "generator.json"
    config.write_text(json.dumps(GENERATOR_CONFIG))
    output = tmp_path / "client" / PACKAGE
    # fmt: off
    subprocess.run(
        [
            sys.executable, "-m", "openapi_python_client", "generate",
            "--path", str(document), "--config", str(config),
            "--meta", "none", "--output-path", str(output),
        ],
        check=True, capture_output=True, timeout=120,
    )
    # fmt: on
    sys.path.insert(0, str(output.parent))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(output.parent))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.fixture
def live_api(settings: Settings, tmp_path: Path, db: Session) -> Iterator[LiveServer]:
    tenant = TenantFactory(slug="acme")
    UserFactory(tenant=tenant, email="ada@acme.test", roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    server = start_server(server_env(settings, tmp_path / "var"), tmp_path / "api.log")
    yield server
    server.stop()


def test_an_admins_first_steps_through_the_generated_client(
    generated: ModuleType, live_api: LiveServer
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    token = importlib.import_module(f"{PACKAGE}.api.auth.token")
    users_create = importlib.import_module(f"{PACKAGE}.api.users.users_create")
    roles_create = importlib.import_module(f"{PACKAGE}.api.roles.roles_create")
    users_roles_put = importlib.import_module(f"{PACKAGE}.api.roles.users_roles_put")
    effective = importlib.import_module(f"{PACKAGE}.api.roles.users_effective_scopes_get")

    anonymous = generated.Client(base_url=live_api.url, raise_on_unexpected_status=True)
    login = models.TokenRequest(
        grant_type=models.TokenRequestGrantType.PASSWORD,
        username="acme/ada@acme.test",
        password=DEFAULT_PASSWORD,
    )
    grant = token.sync(client=anonymous, body=login)
    assert isinstance(grant, models.TokenResponse), grant
    assert "roles:assign" in grant.scope.split()

    admin = generated.AuthenticatedClient(
        base_url=live_api.url, token=grant.access_token, raise_on_unexpected_status=True
    )
    user = users_create.sync(
        client=admin,
        body=models.UserCreate(email="bo@acme.test", password="violet tapir juggles lanterns"),
    )
    assert isinstance(user, models.UserCreated), user
    role = roles_create.sync(
        client=admin, body=models.RoleCreate(name="log readers", scopes=[models.Scope.AUDITREAD])
    )
    assert isinstance(role, models.RoleOut), role

    granted = users_roles_put.sync_detailed(
        client=admin, id=user.id, role_id=role.id, body=models.GrantRequest()
    )
    assert granted.status_code == 201
    assert isinstance(granted.parsed, models.GrantOut)
    assert granted.parsed.role_name == "log readers"

    explained = effective.sync(client=admin, id=user.id)
    assert isinstance(explained, models.EffectiveScopesOut), explained
    assert {s.scope: s.explained for s in explained.scopes} == {
        "audit:read": ["audit:read <- log readers"],
        "me": ["me <- member"],
    }
