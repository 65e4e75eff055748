"""Reading mails a real SMTP server (the dev stack's sink, backend/devstack/mail_sink.py)
received from a real worker."""

import email
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default
from urllib.parse import parse_qs, urlsplit

import pytest

from backend.devstack.mail_sink import MailSink

PUBLIC_BASE_URL = "https://id.example.test"


@dataclass
class Mailbox:
    sink: MailSink

    def received(self) -> list[EmailMessage]:
        messages = []
        for path in self.sink.mails():
            message = email.message_from_bytes(path.read_bytes(), policy=default)
            assert isinstance(message, EmailMessage)
            messages.append(message)
        return messages

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.received() if m["To"] == address]

    def wait_for(self, address: str, subject: str, *, timeout: float = 60) -> EmailMessage:
        """The first mail to `address` whose subject holds `subject`; bounded wait."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.to(address):
                if subject in str(message["Subject"]):
                    return message
            time.sleep(0.1)
        pytest.fail(f"no mail {subject!r} to {address} within {timeout:.0f}s: {self.summary()}")

    def summary(self) -> list[tuple[str, str]]:
        return [(str(m["To"]), str(m["Subject"])) for m in self.received()]

    def clear(self) -> None:
        for path in self.sink.mails():
            path.unlink()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage) -> str:
    """The one link of the mail's text part (its line that starts with the base URL)."""
    links = [
        line.strip() for line in text_of(message).splitlines() if line.startswith(PUBLIC_BASE_URL)
    ]
    assert len(links) == 1, links
    return links[0]


def token_in(message: EmailMessage) -> str:
    return parse_qs(urlsplit(link_in(message)).query)["token"][0]
