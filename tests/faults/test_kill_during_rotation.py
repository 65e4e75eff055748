"""SIGKILL the API while clients rotate refresh tokens as fast as they can.

Rotation marks the presented token used and inserts its successor in one transaction,
under a lock on the family row. Killed at any point, a family must be left with
exactly one live token; and each client, holding the last token it received, must be
able to go on after a restart: either that token is still live (its rotation never
committed) or it is the one just rotated, whose repeat within the grace window gets
the same successor back.
"""

import random
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.settings import Settings
from tests.conftest import builtin_role
from tests.factories import TenantFactory, UserFactory
from tests.faults.conftest import StartApi, password_login
from tests.support.live_server import server_env

pytestmark = pytest.mark.faults

CLIENTS = 4
MAX_ROTATIONS = 400  # per client; the kill comes long before
LOOP_LIMIT_S = 15.0


class Rotator(threading.Thread):
    """Refreshes in a loop, keeping the last refresh token it was given."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.rotations = 0
        self.refused: str | None = None  # a refusal, reported by the test thread

    def run(self) -> None:
        deadline = time.monotonic() + LOOP_LIMIT_S
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while self.rotations < MAX_ROTATIONS and time.monotonic() < deadline:
                try:
                    response = client.post(
                        "/token", data={"grant_type": "refresh_token", "refresh_token": self.token}
                    )
                except httpx.HTTPError:
                    return  # the server is gone
                if response.status_code != 200:
                    self.refused = response.text
                    return
                self.token = response.json()["refresh_token"]
                self.rotations += 1


def live_tokens(owner_engine: Engine, families: set[uuid.UUID]) -> dict[uuid.UUID, int]:
    with owner_engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT family_id, count(*) FROM refresh_tokens"
                " WHERE used_at IS NULL AND revoked_at IS NULL GROUP BY family_id"
            )
        )
        counts = {family_id: int(count) for family_id, count in rows}
    return {family: counts.get(family, 0) for family in families}


def families(owner_engine: Engine) -> set[uuid.UUID]:
    with owner_engine.connect() as connection:
        return set(connection.execute(text("SELECT id FROM refresh_families")).scalars())


def test_no_family_has_two_live_tokens_after_a_sigkill(
    db: Session,
    settings: Settings,
    owner_engine: Engine,
    tmp_path: Path,
    start_api: StartApi,
) -> None:
    tenant = TenantFactory(slug="acme")
    UserFactory(tenant=tenant, email="ada@acme.test", roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    # Generous grace, so the repeat after the restart still falls inside it.
    env = server_env(settings, tmp_path / "var", TESSERA_REFRESH_REUSE_GRACE_SECONDS="120")
    api = start_api(env)
    with httpx.Client(base_url=api.url, timeout=10) as client:
        logins = [password_login(client, "acme/ada@acme.test") for _ in range(CLIENTS)]
    assert all(login.status_code == 200 for login in logins)
    rotators = [Rotator(api.url, login.json()["refresh_token"]) for login in logins]
    for rotator in rotators:
        rotator.start()

    # Kill mid-loop, at a moment the test does not choose, once every client is in its
    # loop (on a loaded machine the first rotations can take longer than any fixed wait).
    deadline = time.monotonic() + LOOP_LIMIT_S / 2
    while any(r.rotations == 0 for r in rotators) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(random.uniform(0.05, 0.5))
    api.kill()
    for rotator in rotators:
        rotator.join(timeout=LOOP_LIMIT_S + 5)
        assert not rotator.is_alive()
        assert rotator.refused is None, rotator.refused
    assert all(rotator.rotations > 0 for rotator in rotators), "killed before any rotation"

    sessions = families(owner_engine)
    assert len(sessions) == CLIENTS
    # The killed connections' transactions are rolled back by PostgreSQL, not by us.
    assert live_tokens(owner_engine, sessions) == dict.fromkeys(sessions, 1)

    # A new process on the same database: every client carries on with what it holds.
    restarted = start_api(env)
    with httpx.Client(base_url=restarted.url, timeout=10) as client:
        for rotator in rotators:
            response = client.post(
                "/token", data={"grant_type": "refresh_token", "refresh_token": rotator.token}
            )
            assert response.status_code == 200, response.text
            again = client.post(
                "/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": response.json()["refresh_token"],
                },
            )
            assert again.status_code == 200, again.text
    assert live_tokens(owner_engine, sessions) == dict.fromkeys(sessions, 1)
