"""examples/projects: the CRUD, tenants kept apart by the database, the kit's refusals."""

import json
import os
import subprocess
import sys
import threading
import uuid

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from tessera_fastapi.testing import StandInIssuer

from backend.domain.api_manifest import parse_manifest
from examples.projects.settings import API_FILE, ApiDeclaration, ProjectsSettings
from tests.support.concurrency import all_at_once
from tests.support.database import drop_database, recreate_database
from tests.support.projects import PROJECT_DIR

READ_WRITE = "projects:read projects:write"


def auth(issuer: StandInIssuer, tenant_id: uuid.UUID, scope: str = READ_WRITE) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.token(tid=str(tenant_id), scope=scope)}"}


def test_create_list_get_rename_delete(service: TestClient, issuer: StandInIssuer) -> None:
    headers = auth(issuer, uuid.uuid4())
    created = service.post("/projects", json={"name": "Apollo"}, headers=headers)
    assert created.status_code == 201
    project = created.json()
    assert project["name"] == "Apollo"
    second = service.post("/projects", json={"name": "Gemini"}, headers=headers).json()

    listed = service.get("/projects", headers=headers)
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["items"]] == [project["id"], second["id"]]
    assert service.get(f"/projects/{project['id']}", headers=headers).json() == project

    renamed = service.patch(f"/projects/{project['id']}", json={"name": "Artemis"}, headers=headers)
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Artemis"
    assert service.get(f"/projects/{project['id']}", headers=headers).json()["name"] == "Artemis"

    assert service.delete(f"/projects/{project['id']}", headers=headers).status_code == 204
    assert service.get(f"/projects/{project['id']}", headers=headers).status_code == 404
    assert service.delete(f"/projects/{project['id']}", headers=headers).status_code == 404
    assert [p["id"] for p in service.get("/projects", headers=headers).json()["items"]] == [
        second["id"]
    ]


def test_another_tenants_project_is_404_and_their_list_is_empty(
    service: TestClient, issuer: StandInIssuer
) -> None:
    owner = auth(issuer, uuid.uuid4())
    project_id = service.post("/projects", json={"name": "Secret"}, headers=owner).json()["id"]
    other = auth(issuer, uuid.uuid4())

    assert service.get("/projects", headers=other).json() == {"items": []}
    assert service.get(f"/projects/{project_id}", headers=other).status_code == 404
    assert (
        service.patch(f"/projects/{project_id}", json={"name": "Mine"}, headers=other).status_code
        == 404
    )
    assert service.delete(f"/projects/{project_id}", headers=other).status_code == 404
    # Untouched for its owner.
    assert service.get(f"/projects/{project_id}", headers=owner).json()["name"] == "Secret"


def test_the_database_enforces_isolation(
    service: TestClient,
    issuer: StandInIssuer,
    projects_settings: ProjectsSettings,
    projects_owner: Engine,
) -> None:
    tenant_id = uuid.uuid4()
    service.post("/projects", json={"name": "Hidden"}, headers=auth(issuer, tenant_id))
    # The service's own role, with no WHERE clause: no tenant set, no rows; another
    # tenant set, no rows; and no write into a tenant other than the one set.
    engine = create_engine(projects_settings.database_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            assert connection.scalar(text("SELECT count(*) FROM projects")) == 0
            connection.execute(
                text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(uuid.uuid4())}
            )
            assert connection.scalar(text("SELECT count(*) FROM projects")) == 0
            assert connection.execute(text("UPDATE projects SET name = 'x'")).rowcount == 0
        with engine.begin() as connection:
            connection.execute(
                text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)}
            )
            assert connection.scalar(text("SELECT count(*) FROM projects")) == 1
            with pytest.raises(Exception, match="row-level security"):
                connection.execute(
                    text("INSERT INTO projects (tenant_id, name) VALUES (:t, 'smuggled')"),
                    {"t": str(uuid.uuid4())},
                )
        with engine.connect() as connection:
            # One connection, as the pool reuses it: the tenant ends with its transaction
            # (the setting then reads '' rather than unset, and still matches nothing).
            with connection.begin():
                connection.execute(
                    text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)}
                )
                assert connection.scalar(text("SELECT count(*) FROM projects")) == 1
            with connection.begin():
                assert connection.scalar(text("SELECT count(*) FROM projects")) == 0
            # The role cannot switch the policy off, nor does it own the table.
            assert not connection.scalar(
                text("SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user")
            )
    finally:
        engine.dispose()
    # The superuser owner, past the policy, sees the one row the service stored.
    with projects_owner.connect() as connection:
        assert (
            connection.scalar(
                text("SELECT count(*) FROM projects WHERE tenant_id = :t"), {"t": str(tenant_id)}
            )
            == 1
        )


def test_scopes_are_checked(service: TestClient, issuer: StandInIssuer) -> None:
    tenant_id = uuid.uuid4()
    reader = auth(issuer, tenant_id, "projects:read")
    refused = service.post("/projects", json={"name": "Nope"}, headers=reader)
    assert refused.status_code == 403
    assert "insufficient_scope" in refused.headers["WWW-Authenticate"]
    assert service.get("/projects", headers=reader).status_code == 200

    writer = auth(issuer, tenant_id, "projects:write")
    project_id = service.post("/projects", json={"name": "Ok"}, headers=writer).json()["id"]
    assert service.get(f"/projects/{project_id}", headers=writer).status_code == 403
    assert service.delete(f"/projects/{project_id}", headers=reader).status_code == 403
    patched = service.patch(f"/projects/{project_id}", json={"name": "x"}, headers=reader)
    assert patched.status_code == 403
    # A token for Tessera's own scopes only carries none of the product's.
    assert (
        service.get("/projects", headers=auth(issuer, tenant_id, "users:read")).status_code == 403
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
)
def test_no_valid_token_is_401(service: TestClient, headers: dict[str, str]) -> None:
    for method, path in [
        ("GET", "/projects"),
        ("POST", "/projects"),
        ("GET", f"/projects/{uuid.uuid4()}"),
    ]:
        response = service.request(method, path, headers=headers, json={"name": "x"})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_for_another_audience_is_401(service: TestClient, issuer: StandInIssuer) -> None:
    token = issuer.token(scope=READ_WRITE, aud="http://127.0.0.1:8000")
    response = service.get("/projects", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_healthz_is_unguarded(service: TestClient) -> None:
    assert service.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize(
    "name",
    ["", "   ", "a" * 201, "nul\x00byte", "lone\ud800surrogate", "\udfff", 5, None],
)
def test_bad_names_are_refused(service: TestClient, issuer: StandInIssuer, name: object) -> None:
    headers = {**auth(issuer, uuid.uuid4()), "Content-Type": "application/json"}
    # ASCII-escaped JSON, as a client may send a lone surrogate: "\\ud800".
    body = json.dumps({"name": name})
    assert service.post("/projects", content=body, headers=headers).status_code == 422
    project_id = service.post("/projects", json={"name": "Fine"}, headers=headers).json()["id"]
    patched = service.patch(f"/projects/{project_id}", content=body, headers=headers)
    assert patched.status_code == 422
    assert service.get("/projects", headers=headers).json()["items"][0]["name"] == "Fine"


def test_extreme_but_valid_names_are_stored(service: TestClient, issuer: StandInIssuer) -> None:
    headers = auth(issuer, uuid.uuid4())
    for name in ["a" * 200, "😀" * 200, "名前", "'; DROP TABLE projects; --"]:
        created = service.post("/projects", json={"name": name}, headers=headers)
        assert created.status_code == 201
        assert (
            service.get(f"/projects/{created.json()['id']}", headers=headers).json()["name"] == name
        )


def test_bad_input_is_4xx(service: TestClient, issuer: StandInIssuer) -> None:
    headers = auth(issuer, uuid.uuid4())
    assert service.get("/projects/not-a-uuid", headers=headers).status_code == 422
    assert (
        service.post("/projects", json={"name": "x", "extra": 1}, headers=headers).status_code
        == 422
    )
    assert service.post("/projects", content=b"{", headers=headers).status_code == 422
    assert service.get("/projects?limit=0", headers=headers).status_code == 422
    assert service.get("/projects?limit=201", headers=headers).status_code == 422


def test_openapi_offers_tesseras_login_with_the_apis_scopes(service: TestClient) -> None:
    schemes = service.get("/openapi.json").json()["components"]["securitySchemes"]
    flow = schemes["Tessera"]["flows"]["authorizationCode"]
    assert flow["authorizationUrl"].endswith("/authorize")
    assert flow["tokenUrl"].endswith("/token")
    assert set(flow["scopes"]) == {"projects:read", "projects:write"}
    # Authorize signs in as the docs' client with PKCE, asking for a token for this API.
    docs = service.get("/docs").text
    assert '"clientId": "projects-docs"' in docs
    assert '"usePkceWithAuthorizationCodeGrant": true' in docs
    assert f'"resource": "{ApiDeclaration.load().identifier}"' in docs


def test_the_migrations_go_down_and_up_again(projects_settings: ProjectsSettings) -> None:
    config = Config(str(PROJECT_DIR / "alembic.ini"))
    config.attributes["settings"] = projects_settings
    config.attributes["configure_logger"] = False
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    engine = create_engine(projects_settings.migration_database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            forced = connection.scalar(
                text("SELECT relforcerowsecurity FROM pg_class WHERE relname = 'projects'")
            )
        assert forced is True
    finally:
        engine.dispose()


def test_api_toml_is_a_manifest_tessera_apis_apply_accepts() -> None:
    (spec,) = parse_manifest(API_FILE.read_text())
    declared = ApiDeclaration.load()
    assert spec.identifier == declared.identifier == "https://api.example.com/projects"
    assert spec.scopes == declared.scopes
    assert set(spec.scopes) == {"projects:read", "projects:write"}


def test_migrations_racing_on_two_databases_make_their_new_role_once(
    admin_database_url: str,
) -> None:
    """Roles are cluster-wide: two databases migrated at once (two processes) both create
    the service's role; one does, the other finds it, and it logs in with its password."""
    role = f"projects_app_{uuid.uuid4().hex[:8]}"
    password = "it's a 'quoted' secret"
    admin = make_url(admin_database_url)
    names = [f"projects_race_{uuid.uuid4().hex[:8]}_{i}" for i in range(2)]
    queue = iter(names)
    lock = threading.Lock()

    def migrate() -> subprocess.CompletedProcess[str]:
        with lock:
            name = next(queue)
        env = os.environ | {
            "PROJECTS_DATABASE_URL": admin.set(
                username=role, password=password, database=name
            ).render_as_string(hide_password=False),
            "PROJECTS_MIGRATION_DATABASE_URL": admin.set(database=name).render_as_string(
                hide_password=False
            ),
        }
        argv = [sys.executable, "-m", "alembic", "-c", str(PROJECT_DIR / "alembic.ini")]
        return subprocess.run(
            [*argv, "upgrade", "head"], env=env, capture_output=True, text=True, timeout=120
        )

    engine = create_engine(admin_database_url, poolclass=NullPool)
    try:
        for name in names:
            recreate_database(admin_database_url, name)
        results = all_at_once(2, migrate)
        assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
        app_url = admin.set(username=role, password=password, database=names[0])
        app = create_engine(app_url.render_as_string(hide_password=False), poolclass=NullPool)
        with app.connect() as connection:
            rights = connection.execute(
                text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            ).one()
            assert tuple(rights) == (False, False)
            assert connection.scalar(text("SELECT count(*) FROM projects")) == 0
        app.dispose()
    finally:
        for name in names:
            drop_database(admin_database_url, name)
        with engine.begin() as connection:
            connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        engine.dispose()
