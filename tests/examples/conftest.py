"""The projects example against real PostgreSQL, with tokens from the kit's stand-in
issuer (tessera_fastapi.testing), as a product service tests itself without Tessera;
tests/e2e runs it against Tessera itself.
"""

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool
from tessera_fastapi.testing import StandInIssuer

from examples.projects.app import create_app
from examples.projects.settings import ApiDeclaration, ProjectsSettings
from tests.support.projects import projects_database


@pytest.fixture(scope="session")
def issuer() -> Iterator[StandInIssuer]:
    with StandInIssuer(audience=ApiDeclaration.load().identifier) as found:
        yield found


@pytest.fixture(scope="session")
def projects_settings(
    request: pytest.FixtureRequest, admin_database_url: str, issuer: StandInIssuer
) -> Iterator[ProjectsSettings]:
    """The example's own database, migrated by its own Alembic migrations."""
    workerinput = getattr(request.config, "workerinput", {})
    name = f"projects_test_{uuid.uuid4().hex[:8]}_{workerinput.get('workerid', 'main')}"
    with projects_database(
        admin_database_url, name, issuer=issuer.url, discovery_wait_seconds=0
    ) as found:
        yield found


@pytest.fixture
def projects_owner(projects_settings: ProjectsSettings) -> Iterator[Engine]:
    """The owner's engine; empties the table after each test."""
    engine = create_engine(projects_settings.migration_database_url, poolclass=NullPool)
    yield engine
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE projects"))
    engine.dispose()


@pytest.fixture
def service(projects_settings: ProjectsSettings, projects_owner: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(projects_settings)) as client:
        yield client
