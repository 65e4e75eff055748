"""Fixtures of the browser sign-in tests (test_sign_in*.py): an app that signs with EdDSA
and names itself http://testserver, as a deployment names its public URL; Ada of Acme;
the client `spa`."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.db.models import User
from backend.main import create_app
from backend.settings import Settings
from tests.support.sign_in import ISSUER, ada_of_acme


@pytest.fixture(scope="module")
def oidc_app(settings: Settings) -> Iterator[TestClient]:
    signed = settings.model_copy(update={"jwt_algorithm": "EdDSA", "jwt_issuer": ISSUER})
    with TestClient(create_app(signed), follow_redirects=False) as app:
        yield app


@pytest.fixture
def web(oidc_app: TestClient) -> TestClient:
    oidc_app.cookies.clear()
    oidc_app.headers.clear()
    return oidc_app


@pytest.fixture
def user(db: Session) -> User:
    return ada_of_acme(db)
