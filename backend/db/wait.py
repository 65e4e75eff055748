"""`python -m backend.db.wait`: block until PostgreSQL accepts the migration role, or fail.

The prestart step of deploy/entrypoint.sh: in compose or Kubernetes the database may
still be starting when the migration runs. Bounded, so a wrong URL fails the step
instead of hanging it.
"""

import argparse
import sys
import time

import psycopg
from sqlalchemy.engine import make_url

from backend.settings import get_settings


def wait_for_database(url: str, *, timeout: float, interval: float = 1.0) -> bool:
    """True once a connection to `url` succeeds; False if none did within `timeout`."""
    libpq_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(libpq_url, connect_timeout=max(1, int(interval * 2))).close()
        except psycopg.Error:
            if time.monotonic() + interval > deadline:
                return False
            time.sleep(interval)
        else:
            return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    args = parser.parse_args()
    url = get_settings().owner_database_url
    if wait_for_database(url, timeout=args.timeout):
        return 0
    # The URL's host and database only: it may carry a password.
    parsed = make_url(url)
    print(
        f"wait: PostgreSQL at {parsed.host}:{parsed.port or 5432}/{parsed.database} "
        f"did not answer within {args.timeout:.0f}s",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
