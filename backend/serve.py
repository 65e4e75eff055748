"""`python -m backend.serve [uvicorn options]`: uvicorn's command line, for deployment.

Uvicorn drains in-flight requests on SIGTERM and then raises the signal again, so a
single-process server ends "killed by SIGTERM" (exit status 143) after a clean drain.
Orchestrators and `docker compose` read a non-zero status as a crash; this module makes
a SIGTERM-requested stop exit 0. A SIGTERM that arrives before uvicorn has taken over
the signal (while importing) also exits 0, at once.
"""

import signal
import sys
from types import FrameType

from uvicorn.main import main as uvicorn_main


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main() -> None:
    # Uvicorn saves this handler, serves with its own, and restores and re-raises it
    # after the graceful shutdown.
    signal.signal(signal.SIGTERM, _stopped)
    uvicorn_main(args=sys.argv[1:], prog_name="uvicorn")


if __name__ == "__main__":
    main()
