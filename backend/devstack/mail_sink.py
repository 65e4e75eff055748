"""A local SMTP server that writes every mail it is sent to a directory, one .eml each.

`make run` starts one on 127.0.0.1 when no SMTP server is configured, so the invitations,
reset links and verification mails of a development stack can be read from disk; the
tests run the same sink and read their mails from it.
"""

import itertools
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

_LOOPBACK = "127.0.0.1"


class _WriteToDirectory:
    """aiosmtpd's handler: each message's raw bytes to `<n>.eml`, numbered in order."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        content = envelope.original_content or b""
        with self._lock:
            path = self._directory / f"{next(self._numbers):06d}.eml"
        path.write_bytes(content)
        return "250 Message accepted for delivery"


class MailSink:
    """The sink on 127.0.0.1:`port` while the context is open."""

    def __init__(self, directory: Path, port: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.host, self.port = directory, _LOOPBACK, port
        self._controller = Controller(_WriteToDirectory(directory), hostname=_LOOPBACK, port=port)

    def mails(self) -> list[Path]:
        """The mails received so far, oldest first."""
        return sorted(self.directory.glob("*.eml"))

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._controller.stop()
