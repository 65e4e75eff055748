"""A real SMTP server on 127.0.0.1 and a real worker that sends to it, for this module."""

import subprocess
from collections.abc import Iterator

import pytest
import redis

from backend.devstack.mail_sink import MailSink
from backend.settings import Settings
from tests.integration.worker.conftest import spawn_worker, stop_worker
from tests.support.mail import PUBLIC_BASE_URL, Mailbox
from tests.support.ports import free_port


@pytest.fixture(scope="module")
def mail_worker(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[MailSink, subprocess.Popen[bytes]]]:
    root = tmp_path_factory.mktemp("mail")
    # Tasks other tests queued and no worker took would otherwise be sent here.
    with redis.Redis.from_url(settings.redis_url) as client:
        client.delete("celery")
    with MailSink(root / "sink", free_port()) as sink:
        worker = spawn_worker(
            settings,
            root / "worker.log",
            TESSERA_SMTP_HOST=sink.host,
            TESSERA_SMTP_PORT=str(sink.port),
            TESSERA_PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        )
        try:
            yield sink, worker
        finally:
            stop_worker(worker)


@pytest.fixture
def mailbox(mail_worker: tuple[MailSink, subprocess.Popen[bytes]]) -> Mailbox:
    sink, worker = mail_worker
    assert worker.poll() is None, "the mail worker died"
    box = Mailbox(sink)
    box.clear()
    return box
