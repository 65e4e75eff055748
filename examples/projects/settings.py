"""The service's configuration, from PROJECTS_* environment variables."""

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

API_FILE = Path(__file__).with_name("api.toml")
_ISSUER = "http://127.0.0.1:8000"
_DISCOVERY_WAIT_SECONDS = 30.0
_DOCS_CLIENT_ID = "projects-docs"


@dataclass(frozen=True, slots=True)
class ProjectsSettings:
    """Where the database and Tessera are, and who this service is to Tessera."""

    # The application role: owns nothing, so row-level security binds it.
    database_url: str
    # The owner role, for the migrations (which create and grant the application role).
    migration_database_url: str
    issuer: str = _ISSUER
    # A platform service account holding standings:read, for the cut-off feed; without
    # it a cut-off reaches this service only when the token expires.
    client_id: str | None = None
    client_secret: str | None = None
    # How long start-up waits for Tessera's metadata (Tessera may start alongside).
    discovery_wait_seconds: float = _DISCOVERY_WAIT_SECONDS
    # The public client /docs signs in as: registered with this service's
    # /docs/oauth2-redirect and origin.
    docs_client_id: str = _DOCS_CLIENT_ID

    @classmethod
    def from_environ(cls) -> "ProjectsSettings":
        env = os.environ
        database_url = env["PROJECTS_DATABASE_URL"]
        return cls(
            database_url=database_url,
            migration_database_url=env.get("PROJECTS_MIGRATION_DATABASE_URL", database_url),
            issuer=env.get("PROJECTS_TESSERA_ISSUER", _ISSUER),
            client_id=env.get("PROJECTS_CLIENT_ID") or None,
            client_secret=env.get("PROJECTS_CLIENT_SECRET") or None,
            discovery_wait_seconds=float(
                env.get("PROJECTS_DISCOVERY_WAIT_SECONDS", _DISCOVERY_WAIT_SECONDS)
            ),
            docs_client_id=env.get("PROJECTS_DOCS_CLIENT_ID") or _DOCS_CLIENT_ID,
        )


@dataclass(frozen=True, slots=True)
class ApiDeclaration:
    """The API as api.toml declares it: one file for Tessera's registry and this service."""

    identifier: str
    scopes: dict[str, str]

    @classmethod
    def load(cls, path: Path = API_FILE) -> "ApiDeclaration":
        (api,) = tomllib.loads(path.read_text())["api"]
        return cls(identifier=str(api["identifier"]), scopes=dict(api["scopes"]))
