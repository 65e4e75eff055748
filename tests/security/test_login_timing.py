"""A login for an unknown email takes as long as a wrong password for a known one.

Measured, not reasoned about: with a production-like argon2id cost the hash dominates a
login, so if either path skipped it (or hashed twice) the medians would differ by far
more than the bound. Samples alternate between the two kinds, so load from other test
workers falls on both alike; medians ignore the odd stall.
"""

import statistics
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.main import create_app
from backend.security.passwords import PasswordService
from backend.settings import Settings
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory

pytestmark = pytest.mark.security

SAMPLES = 60  # per kind of failure
WARM_UP = 3
BOUND = 0.20
# OWASP's minimum for argon2id (m=19 MiB, t=2, p=1): about 25 ms per hash here, far
# above everything else a failed login does.
PRODUCTION_LIKE = {
    "argon2_memory_cost_kib": 19 * 1024,
    "argon2_time_cost": 2,
    "argon2_parallelism": 1,
}


@pytest.fixture(scope="module")
def costly(settings: Settings) -> Settings:
    return settings.model_copy(update=PRODUCTION_LIKE)


@pytest.fixture(scope="module")
def costly_client(costly: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(costly)) as client:
        yield client


def attempt(client: TestClient, username: str) -> float:
    data = {"grant_type": "password", "username": username, "password": "not the password"}
    started = time.perf_counter()
    response = client.post("/token", data=data)
    elapsed = time.perf_counter() - started
    assert response.status_code == 400, response.text
    assert response.json()["error_description"] == "invalid username or password"
    return elapsed


def test_unknown_email_and_wrong_password_take_the_same_time(
    costly_client: TestClient, costly: Settings, db: Session
) -> None:
    # Enough room under the lockout threshold, and no pauses before it, that every
    # sample takes the same path: a wrong password that is counted.
    tenant = TenantFactory(slug="acme", policy={"lockout_threshold": 100, "throttle_after": 100})
    UserFactory(
        tenant=tenant,
        email="ada@acme.test",
        # Hashed at the same cost as the dummy hash: a stored hash with other
        # parameters would time differently, whatever the code does.
        password_hash=PasswordService(costly).hash(DEFAULT_PASSWORD),
    )
    db.commit()
    assert SAMPLES + WARM_UP < 100

    for _ in range(WARM_UP):
        attempt(costly_client, "acme/ada@acme.test")
        attempt(costly_client, "acme/nobody@acme.test")
    known: list[float] = []
    unknown: list[float] = []
    for _ in range(SAMPLES):
        known.append(attempt(costly_client, "acme/ada@acme.test"))
        unknown.append(attempt(costly_client, "acme/nobody@acme.test"))

    known_median, unknown_median = statistics.median(known), statistics.median(unknown)
    difference = abs(known_median - unknown_median) / max(known_median, unknown_median)
    assert difference <= BOUND, (
        f"wrong password: median {known_median * 1000:.1f} ms; "
        f"unknown email: median {unknown_median * 1000:.1f} ms ({difference:.0%} apart)"
    )
    # The hash really dominates, or the comparison would prove nothing.
    assert min(known_median, unknown_median) > 0.010
