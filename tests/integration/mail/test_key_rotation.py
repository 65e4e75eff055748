"""A rotation of TESSERA_ENCRYPTION_KEY loses no queued mail: a worker on the new key,
with the old one retired, opens what the API sealed before the rotation and after it."""

import uuid
from collections.abc import Callable
from pathlib import Path

import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from backend.devstack.mail_sink import MailSink
from backend.domain.scopes import TENANT_SCOPES
from backend.main import create_app
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import TenantFactory, UserFactory
from tests.integration.worker.conftest import spawn_worker, stop_worker
from tests.support.mail import PUBLIC_BASE_URL, Mailbox
from tests.support.ports import free_port

IssueToken = Callable[..., str]
NEW_KEY = "rotated-encryption-key-" + "n" * 40


def invite(app: TestClient, token: str) -> str:
    address = f"u-{uuid.uuid4().hex[:8]}@acme.test"
    answer = app.post("/users", headers=bearer(token), json={"email": address, "invite": True})
    assert answer.status_code == 201, answer.text
    return address


def test_mail_sealed_under_the_old_key_and_the_new_is_sent(
    client: TestClient, db: Session, settings: Settings, issue_token: IssueToken, tmp_path: Path
) -> None:
    tenant = TenantFactory(slug="acme", name="Acme")
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    token = issue_token(owner, sorted(TENANT_SCOPES))
    with redis.Redis.from_url(settings.redis_url) as queue:
        queue.delete("celery")
    assert settings.encryption_key is not None
    old_key = settings.encryption_key.get_secret_value()
    # Queued before the rotation, by an API on the old key, while no worker runs.
    before = invite(client, token)
    rotated = settings.model_copy(
        update={
            "encryption_key": SecretStr(NEW_KEY),
            "encryption_keys_retired": SecretStr(old_key),
        }
    )
    with TestClient(create_app(rotated)) as rotated_api:
        after = invite(rotated_api, token)
    with MailSink(tmp_path / "sink", free_port()) as sink:
        worker = spawn_worker(
            settings,
            tmp_path / "worker.log",
            TESSERA_ENCRYPTION_KEY=NEW_KEY,
            TESSERA_ENCRYPTION_KEYS_RETIRED=old_key,
            TESSERA_SMTP_HOST=sink.host,
            TESSERA_SMTP_PORT=str(sink.port),
            TESSERA_PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        )
        try:
            box = Mailbox(sink)
            box.wait_for(before, "You are invited to Acme")
            box.wait_for(after, "You are invited to Acme")
        finally:
            stop_worker(worker)
    assert "opens under no configured" not in (tmp_path / "worker.log").read_text()
