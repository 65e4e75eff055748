"""SIGTERM drains the API: a request in flight finishes, new connections are refused."""

import threading
from pathlib import Path

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.settings import Settings
from tests.conftest import builtin_role
from tests.deploy.conftest import Starter, answers, stack_env, wait_until
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory
from tests.support.ports import free_port


def _blocked_on_a_lock(owner_engine: Engine) -> bool:
    with owner_engine.connect() as connection:
        waiting = connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = 'tessera' AND wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
        )
    return bool(waiting)


def test_sigterm_lets_the_request_in_flight_finish(
    settings: Settings, db: Session, owner_engine: Engine, start_role: Starter, tmp_path: Path
) -> None:
    tenant = TenantFactory(slug="acme")
    UserFactory(tenant=tenant, email="a@acme.test", roles=[builtin_role(db, tenant, "member")])
    db.commit()
    port = free_port()
    env = stack_env(settings, tmp_path, TESSERA_PORT=str(port), TESSERA_API_WORKERS="2")
    api = start_role("api", env)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(f"{base}/readyz"), timeout=60, what=f"/readyz\n{api.output()}")
    login = httpx.post(
        f"{base}/token",
        data={
            "grant_type": "password",
            "username": "acme/a@acme.test",
            "password": DEFAULT_PASSWORD,
        },
        timeout=10,
    )
    assert login.status_code == 200, login.text
    refresh = {"grant_type": "refresh_token", "refresh_token": login.json()["refresh_token"]}

    # Hold the session's row lock, so the refresh below waits inside the server.
    with owner_engine.connect() as holder:
        holder.execute(text("SELECT id FROM refresh_families FOR UPDATE"))
        answered: list[httpx.Response] = []
        in_flight = threading.Thread(
            target=lambda: answered.append(httpx.post(f"{base}/token", data=refresh, timeout=30))
        )
        in_flight.start()
        wait_until(lambda: _blocked_on_a_lock(owner_engine), timeout=20, what="the refresh")

        api.terminate()
        # Draining: no new connection is accepted, the request in flight still waits.
        wait_until(lambda: not answers(f"{base}/healthz"), timeout=10, what="the listener to close")
        assert api.process.poll() is None, "exited before its request in flight finished"
        holder.rollback()

    in_flight.join(timeout=30)
    assert answered, "the request in flight got no answer"
    assert answered[0].status_code == 200, answered[0].text
    assert "refresh_token" in answered[0].json()
    assert api.wait(timeout=30) == 0, api.output()
