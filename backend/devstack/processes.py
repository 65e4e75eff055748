"""Child processes that live and die together, and the signals that stop them."""

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Self

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_GRACE_SECONDS = 10.0


def say(message: str) -> None:
    """Print an orchestrator status line, apart from the children's own output."""
    print(f"[devstack] {message}", file=sys.stderr, flush=True)


def terminate_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that has the child sent SIGTERM when its parent dies, on Linux.

    This covers a SIGKILLed parent, which can clean up nothing itself: without it the
    child would keep running, holding its port. The kernel ties the signal to the thread
    that started the child, so start children from the main thread.
    """
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    # Runs in the child between fork and exec: system calls only.
    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        # The parent may have died between fork and prctl, before the signal was armed.
        if os.getppid() != parent:
            os._exit(1)

    return arm


class StopSignals:
    """Records SIGINT, SIGTERM and SIGHUP (a closed terminal) instead of dying at once.

    An exception raised from a signal handler could land in the middle of starting
    PostgreSQL and leave it running unowned; recording lets the caller stop at points
    where every started service is already registered for cleanup.
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None

    def install(self) -> None:
        """Take over SIGINT, SIGTERM and SIGHUP for this process."""
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._record)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum)


class ProcessGroup:
    """Children stopped together on exit: SIGTERM, a grace period, then SIGKILL.

    The children stay in the caller's process group, so a terminal's Ctrl-C reaches
    them too; stopping tolerates children that have already exited from it. They also
    get SIGTERM if the caller dies without stopping them.
    """

    def __init__(self) -> None:
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, name: str, argv: Sequence[str], *, cwd: Path) -> None:
        """Start `argv` as child `name`, inheriting this process's environment."""
        self._children[name] = subprocess.Popen(  # noqa: S603 (fixed argv)
            argv, cwd=cwd, preexec_fn=terminate_with_parent()
        )

    def first_exited(self) -> tuple[str, int] | None:
        """The name and exit code of a child that has exited, if any has."""
        for name, child in self._children.items():
            code = child.poll()
            if code is not None:
                return name, code
        return None

    def stop(self) -> None:
        """Terminate every child still running and reap them all."""
        for child in self._children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + _GRACE_SECONDS
        for name, child in self._children.items():
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} ignored SIGTERM for {_GRACE_SECONDS:.0f}s; killing it")
                child.kill()
                child.wait()
