"""Sending is retried while the SMTP server is away, and the mail arrives once it is back."""

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.devstack.mail_sink import MailSink
from backend.domain.scopes import TENANT_SCOPES
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import TenantFactory, UserFactory
from tests.integration.worker.conftest import spawn_worker, stop_worker
from tests.support.mail import PUBLIC_BASE_URL, Mailbox
from tests.support.ports import free_port

IssueToken = Callable[..., str]


def wait_for_text(path: Path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    pytest.fail(f"{text!r} not in {path} within {timeout:.0f}s")


def test_a_mail_waits_for_the_smtp_server(
    client: TestClient,
    db: Session,
    settings: Settings,
    issue_token: IssueToken,
    tmp_path: Path,
) -> None:
    tenant = TenantFactory(slug="acme", name="Acme")
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    with redis.Redis.from_url(settings.redis_url) as queue:
        queue.delete("celery")
    port, log = free_port(), tmp_path / "worker.log"
    worker = spawn_worker(
        settings,
        log,
        TESSERA_SMTP_HOST="127.0.0.1",
        TESSERA_SMTP_PORT=str(port),
        TESSERA_PUBLIC_BASE_URL=PUBLIC_BASE_URL,
    )
    try:
        address = f"late-{uuid.uuid4().hex[:8]}@acme.test"
        created = client.post(
            "/users",
            headers=bearer(issue_token(owner, sorted(TENANT_SCOPES))),
            json={"email": address, "invite": True},
        )
        assert created.status_code == 201
        # Nothing listens on the port yet: the worker says it will try again.
        wait_for_text(log, "Retry in")
        with MailSink(tmp_path / "sink", port) as sink:
            Mailbox(sink).wait_for(address, "You are invited to Acme")
        assert created.json()["invitation"]["token"] not in log.read_text(errors="replace")
    finally:
        stop_worker(worker)
