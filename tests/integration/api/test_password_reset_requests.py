"""POST /password-resets tells nothing: the request is sealed and queued before any
lookup, so a known and an unknown email cost the API the same work (issue 19 item 6)."""

import base64
import json

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.db.models import User
from backend.settings import Settings
from tests.factories import TenantFactory, UserFactory


@pytest.fixture
def user(db: Session) -> User:
    created: User = UserFactory(tenant=TenantFactory(slug="acme"), email="kai@acme.test")
    db.commit()
    return created


def queued(settings: Settings) -> list[bytes]:
    with redis.Redis.from_url(settings.redis_url) as queue:
        return [m for m in queue.lrange("celery", 0, -1) if b"password_resets" in m]


def test_known_and_unknown_emails_do_the_same_work(
    client: TestClient, user: User, statements: list[str], settings: Settings
) -> None:
    with redis.Redis.from_url(settings.redis_url) as queue:
        queue.delete("celery")
    known = client.post("/password-resets", json={"tenant": "acme", "email": user.email})
    unknown = client.post("/password-resets", json={"tenant": "acme", "email": "no@acme.test"})
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    # No lookup at all in the request: nothing for timing to tell apart.
    assert statements == []
    messages = queued(settings)
    assert len(messages) == 2
    # Sealed: the queue holds neither the email nor the tenant in clear.
    for raw in messages:
        body = json.loads(raw)["body"]
        decoded = base64.b64decode(body)
        assert b"kai@acme.test" not in raw
        assert b"kai@acme.test" not in decoded
        assert b"no@acme.test" not in decoded
    with redis.Redis.from_url(settings.redis_url) as queue:
        queue.delete("celery")
