"""Fixtures of the API tests: for the browser sign-in tests (test_sign_in*.py) an app that
signs with EdDSA and names itself http://testserver, as a deployment names its public URL,
Ada of Acme and the client `spa`; a platform operator; for the principal cache's, the
statements the app sends and another process's effects."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from backend.db.models import User
from backend.main import create_app
from backend.runtime import Runtime
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import fresh
from tests.support.platform import create_operator
from tests.support.sign_in import ISSUER, ada_of_acme


@pytest.fixture(scope="module")
def oidc_app(settings: Settings) -> Iterator[TestClient]:
    signed = settings.model_copy(update={"jwt_algorithm": "EdDSA", "jwt_issuer": ISSUER})
    with TestClient(create_app(signed), follow_redirects=False) as app:
        yield app


@pytest.fixture
def web(oidc_app: TestClient) -> TestClient:
    return fresh(oidc_app)


@pytest.fixture
def user(db: Session) -> User:
    return ada_of_acme(db)


@pytest.fixture
def operator(db: Session, effects: Effects, settings: Settings) -> User:
    return create_operator(db, effects, settings, "violet otters juggle lanterns")


@pytest.fixture
def statements(client: TestClient) -> Iterator[list[str]]:
    """Every SQL statement the app sends while the test runs."""
    engine: Engine = client.app.state.runtime.database.engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def elsewhere(settings: Settings) -> Iterator[Effects]:
    """The effects of another process (a worker, another API process): its cache is not
    the app's, only Redis links them."""
    runtime = Runtime.from_settings(settings)
    yield runtime.effects
    runtime.close()
