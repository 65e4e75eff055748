"""A lost database answers 503 with a reason within seconds; it never hangs a request."""

import time
import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from backend.db.models import User
from backend.main import create_app
from backend.settings import Settings
from tests.conftest import bearer
from tests.support.ports import free_port


@pytest.fixture
def no_database(settings: Settings) -> Settings:
    """The test settings, with PostgreSQL moved to a port where nothing listens."""
    url = make_url(settings.database_url).set(port=free_port())
    return settings.model_copy(update={"database_url": url.render_as_string(hide_password=False)})


def test_requests_get_503_quickly_when_the_database_is_gone(
    no_database: Settings, issue_token: Callable[..., str]
) -> None:
    user = User(id=uuid.uuid4(), tenant_id=uuid.uuid4(), token_version=0)
    token = issue_token(user, ["me"])
    with TestClient(create_app(no_database)) as client:
        for method, path, kwargs in [
            ("POST", "/token", {"data": {"grant_type": "password", "username": "a/b@c.test",
                                         "password": "whatever it is"}}),
            ("GET", "/me", {"headers": bearer(token)}),
        ]:  # fmt: skip
            started = time.monotonic()
            response = client.request(method, path, **kwargs)
            assert time.monotonic() - started < 5, f"{method} {path} hung"
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "unavailable"
            assert "database" in response.json()["error_description"]
            assert response.headers["retry-after"] == "2"

        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"database": "unavailable", "redis": "ok"}
