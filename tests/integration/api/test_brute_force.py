"""Brute-force defence at POST /token, over HTTP against real PostgreSQL and Redis:
account lockout, the per-address rate limit, timing equalisation and legacy hashes."""

import logging
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import bcrypt
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, Tenant, User
from backend.main import create_app
from backend.security import rate_limit
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory
from tests.support.concurrency import all_at_once

BAD_CREDENTIALS = {"error": "invalid_grant", "error_description": "invalid username or password"}
WRONG = "not the password at all"
THRESHOLD = 3


@pytest.fixture
def user(db: Session) -> User:
    tenant = TenantFactory(slug="acme", policy={"lockout_threshold": THRESHOLD})
    member = UserFactory(
        tenant=tenant, email="ann@acme.test", roles=[builtin_role(db, tenant, "member")]
    )
    db.commit()
    return member


def login(client: TestClient, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    return client.post(
        "/token",
        data={"grant_type": "password", "username": "acme/ann@acme.test", "password": password},
    )


def reload(db: Session, user: User) -> User:
    db.expire_all()
    return db.get_one(User, (user.tenant_id, user.id))


def lock_events(db: Session, user: User) -> list[AuditEvent]:
    return list(
        db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "user.locked", AuditEvent.target == f"user:{user.id}"
            )
        )
    )


def expire_lock(db: Session, user: User) -> None:
    db.execute(
        update(User)
        .where(User.id == user.id)
        .values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
    )
    db.commit()


# Account lockout


def test_wrong_passwords_are_counted_although_the_request_fails(
    client: TestClient, user: User, db: Session
) -> None:
    for attempt in range(1, THRESHOLD):
        response = login(client, WRONG)
        assert response.status_code == 400
        assert response.json() == BAD_CREDENTIALS
        assert reload(db, user).failed_logins == attempt
    assert reload(db, user).locked_until is None


def test_threshold_locks_the_account_for_the_policy_time(
    client: TestClient, user: User, db: Session
) -> None:
    for _ in range(THRESHOLD - 1):
        login(client, WRONG)
    started = datetime.now(UTC)
    response = login(client, WRONG)
    # The guess that locks looks like any other wrong guess.
    assert response.json() == BAD_CREDENTIALS
    locked = reload(db, user)
    assert locked.failed_logins == THRESHOLD
    assert locked.locked_until is not None
    # The default lockout_minutes (15), since this tenant's policy sets only the threshold.
    lock_time = locked.locked_until - started
    assert timedelta(minutes=15) <= lock_time < timedelta(minutes=15, seconds=5)


def test_right_password_gets_the_generic_answer_while_locked(
    client: TestClient, user: User, db: Session
) -> None:
    for _ in range(THRESHOLD):
        login(client, WRONG)
    response = login(client)
    assert response.status_code == 400
    # Not "locked": that would tell a guesser this guess was the right one.
    assert response.json() == BAD_CREDENTIALS
    assert reload(db, user).last_login_at is None


def test_lock_lifts_after_its_time_and_a_login_clears_it(
    client: TestClient, user: User, db: Session
) -> None:
    for _ in range(THRESHOLD):
        login(client, WRONG)
    expire_lock(db, user)
    assert login(client).status_code == 200
    cleared = reload(db, user)
    assert (cleared.failed_logins, cleared.locked_until) == (0, None)


def test_expired_lock_starts_a_fresh_count(client: TestClient, user: User, db: Session) -> None:
    for _ in range(THRESHOLD):
        login(client, WRONG)
    expire_lock(db, user)
    login(client, WRONG)
    again = reload(db, user)
    assert (again.failed_logins, again.locked_until) == (1, None)
    for _ in range(THRESHOLD - 1):
        login(client, WRONG)
    assert reload(db, user).locked_until is not None
    assert len(lock_events(db, user)) == 2


def test_success_resets_the_count(client: TestClient, user: User, db: Session) -> None:
    for _ in range(THRESHOLD - 1):
        login(client, WRONG)
    assert login(client).status_code == 200
    login(client, WRONG)
    assert reload(db, user).failed_logins == 1


def test_concurrent_wrong_guesses_all_count_and_lock_once(
    client: TestClient, user: User, db: Session
) -> None:
    guesses = THRESHOLD * 3
    version = user.token_version
    statuses = all_at_once(guesses, lambda: login(client, WRONG).status_code)
    assert statuses == [400] * guesses
    locked = reload(db, user)
    assert locked.failed_logins == guesses
    # Locking stops guessing, not the account's sessions: no token is cut off.
    assert locked.token_version == version
    assert len(lock_events(db, user)) == 1


def test_lockout_keeps_access_tokens_and_is_audited(
    client: TestClient, user: User, db: Session
) -> None:
    version = user.token_version
    access_token = login(client).json()["access_token"]
    assert client.get("/me", headers=bearer(access_token)).status_code == 200

    for _ in range(THRESHOLD):
        login(client, WRONG)

    # Whoever guessed cannot log the account's owner out: the token started with the
    # right password goes on working, while a new login is refused.
    assert reload(db, user).token_version == version
    assert client.get("/me", headers=bearer(access_token)).status_code == 200
    assert login(client).json() == BAD_CREDENTIALS
    [event] = lock_events(db, user)
    assert event.tenant_id == user.tenant_id
    assert event.actor == "system"
    assert event.data["failed_logins"] == THRESHOLD
    assert datetime.fromisoformat(event.data["locked_until"]) > datetime.now(UTC)
    assert WRONG not in str(event.data)


def test_sessions_refresh_while_locked(client: TestClient, user: User, db: Session) -> None:
    refresh_token = login(client).json()["refresh_token"]
    for _ in range(THRESHOLD):
        login(client, WRONG)
    assert reload(db, user).locked_until is not None

    # A refresh token proves a login made with the right password; the lock is for
    # guessers, so the session goes on, token after token.
    for _ in range(2):
        refreshed = client.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        assert refreshed.status_code == 200, refreshed.text
        grant = refreshed.json()
        assert client.get("/me", headers=bearer(grant["access_token"])).status_code == 200
        refresh_token = grant["refresh_token"]
    assert login(client).json() == BAD_CREDENTIALS


def test_lockout_is_per_user(client: TestClient, user: User, db: Session) -> None:
    other = UserFactory(tenant=db.get_one(Tenant, user.tenant_id), email="bob@acme.test")
    db.commit()
    for _ in range(THRESHOLD):
        login(client, WRONG)
    assert reload(db, other).failed_logins == 0
    bob = {"grant_type": "password", "username": "acme/bob@acme.test"}
    assert client.post("/token", data={**bob, "password": DEFAULT_PASSWORD}).status_code == 200


# Throttling before the lock (NIST SP 800-63B-4 §3.2.2): pauses that double


THROTTLED = {
    "throttle_after": 2,
    "throttle_seconds": 60,
    "lockout_threshold": 5,
    "lockout_minutes": 15,
}


@pytest.fixture
def throttled(db: Session) -> User:
    tenant = TenantFactory(slug="acme", policy=THROTTLED)
    member = UserFactory(
        tenant=tenant, email="ann@acme.test", roles=[builtin_role(db, tenant, "member")]
    )
    db.commit()
    return member


def paused_for(client: TestClient, db: Session, user: User) -> timedelta:
    """Make one wrong guess; how long it paused password checks for (to the second)."""
    started = datetime.now(UTC)
    assert login(client, WRONG).json() == BAD_CREDENTIALS
    locked_until = reload(db, user).locked_until
    assert locked_until is not None
    return timedelta(seconds=round((locked_until - started).total_seconds()))


def test_a_few_wrong_passwords_pause_password_checks(
    client: TestClient, throttled: User, db: Session
) -> None:
    login(client, WRONG)
    assert (reload(db, throttled).failed_logins, reload(db, throttled).locked_until) == (1, None)
    assert paused_for(client, db, throttled) == timedelta(seconds=60)
    paused_until = reload(db, throttled).locked_until

    # During the pause the right password gets the wrong one's answer, and a wrong one
    # is not counted: the pause refused it whatever it was.
    assert login(client).json() == BAD_CREDENTIALS
    assert login(client, WRONG).json() == BAD_CREDENTIALS
    after = reload(db, throttled)
    assert (after.failed_logins, after.locked_until) == (2, paused_until)
    assert after.last_login_at is None
    assert lock_events(db, throttled) == []


def test_each_pause_doubles_up_to_the_lock(
    client: TestClient, throttled: User, db: Session
) -> None:
    login(client, WRONG)
    pauses = [paused_for(client, db, throttled)]
    for _ in range(2):
        expire_lock(db, throttled)
        pauses.append(paused_for(client, db, throttled))
    assert pauses == [timedelta(seconds=s) for s in (60, 120, 240)]
    assert reload(db, throttled).failed_logins == 4
    assert lock_events(db, throttled) == []

    # The threshold's guess locks for lockout_minutes, audited; a lock that runs out
    # starts a fresh count, and so the pauses start again from the shortest.
    expire_lock(db, throttled)
    assert paused_for(client, db, throttled) == timedelta(minutes=15)
    [event] = lock_events(db, throttled)
    assert event.data["failed_logins"] == 5
    expire_lock(db, throttled)
    login(client, WRONG)
    assert (reload(db, throttled).failed_logins, reload(db, throttled).locked_until) == (1, None)


def test_the_pause_never_outlasts_the_lock(client: TestClient, db: Session) -> None:
    tenant = TenantFactory(
        slug="acme", policy={**THROTTLED, "throttle_seconds": 600, "lockout_minutes": 12}
    )
    user = UserFactory(tenant=tenant, email="ann@acme.test")
    db.commit()
    login(client, WRONG)
    assert paused_for(client, db, user) == timedelta(minutes=10)
    expire_lock(db, user)
    assert paused_for(client, db, user) == timedelta(minutes=12)


def test_the_right_password_after_a_pause_logs_in_and_clears_the_count(
    client: TestClient, throttled: User, db: Session
) -> None:
    for _ in range(2):
        login(client, WRONG)
    expire_lock(db, throttled)
    assert login(client).status_code == 200
    cleared = reload(db, throttled)
    assert (cleared.failed_logins, cleared.locked_until) == (0, None)


def test_concurrent_guesses_count_only_until_the_pause(
    client: TestClient, throttled: User, db: Session
) -> None:
    guesses = 8
    version = throttled.token_version
    statuses = all_at_once(guesses, lambda: login(client, WRONG).status_code)
    assert statuses == [400] * guesses
    # The second guess's row lock orders the rest after its pause: exactly two count,
    # however the requests interleave.
    paused = reload(db, throttled)
    assert paused.failed_logins == THROTTLED["throttle_after"]
    assert paused.locked_until is not None
    assert paused.token_version == version
    assert lock_events(db, throttled) == []


# Timing: an unknown user costs the same argon2 verification as a known one.


@pytest.mark.parametrize(
    "username",
    ["acme/ann@acme.test", "acme/nobody@acme.test", "nowhere/ann@acme.test"],
    ids=["known-user", "unknown-user", "unknown-tenant"],
)
def test_every_failed_login_costs_one_argon2_verification(
    client: TestClient, user: User, argon2_verifications: list[str], username: str
) -> None:
    response = client.post(
        "/token", data={"grant_type": "password", "username": username, "password": WRONG}
    )
    assert response.json() == BAD_CREDENTIALS
    assert len(argon2_verifications) == 1
    assert argon2_verifications[0].startswith("$argon2id$")


# Legacy bcrypt hashes


def test_bcrypt_hash_logs_in_and_is_rehashed_to_argon2(
    client: TestClient, user: User, db: Session
) -> None:
    legacy = bcrypt.hashpw(DEFAULT_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    db.execute(update(User).where(User.id == user.id).values(password_hash=legacy))
    db.commit()

    assert login(client, WRONG).json() == BAD_CREDENTIALS
    assert reload(db, user).password_hash == legacy

    assert login(client).status_code == 200
    upgraded = reload(db, user).password_hash
    assert upgraded is not None
    assert upgraded.startswith("$argon2")
    assert login(client).status_code == 200
    assert reload(db, user).password_hash == upgraded


# Per-address rate limit on POST /token


def unique_address() -> str:
    """An IPv6 address in its own /64, so no other test or run shares its budget."""
    return f"2001:db8:{secrets.randbelow(1 << 16):x}:{secrets.randbelow(1 << 16):x}::1"


def fresh_window() -> None:
    """Wait out the last seconds of a rate-limit window, so a test's requests share one."""
    left = rate_limit.WINDOW_SECONDS - time.time() % rate_limit.WINDOW_SECONDS
    if left < 5:
        time.sleep(left)


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"token_rate_limit_per_minute": 3}))
    with TestClient(app, client=(unique_address(), 50000)) as client:
        fresh_window()
        yield client


def test_requests_past_the_limit_get_429_with_retry_after(limited: TestClient, user: User) -> None:
    assert [login(limited, WRONG).status_code for _ in range(3)] == [400] * 3
    response = login(limited)
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= rate_limit.WINDOW_SECONDS
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == "rate_limited"
    assert body["error_description"].startswith("too many requests")


def test_a_refused_request_does_not_reach_the_password_check(
    limited: TestClient, user: User, db: Session
) -> None:
    for _ in range(3):
        limited.post("/token", data={})
    assert login(limited, WRONG).status_code == 429
    assert reload(db, user).failed_logins == 0


def test_forwarded_for_counts_only_behind_a_trusted_proxy(settings: Settings, user: User) -> None:
    proxy = unique_address()
    for trusted in (False, True):
        app = create_app(
            settings.model_copy(
                update={"token_rate_limit_per_minute": 1, "trust_forwarded_for": trusted}
            )
        )
        with TestClient(app, client=(proxy, 50000)) as client:
            fresh_window()
            statuses = [
                client.post(
                    "/token", data={}, headers={"X-Forwarded-For": unique_address()}
                ).status_code
                for _ in range(2)
            ]
        # Untrusted, the spoofable header is ignored and both requests share the proxy's
        # budget; trusted, each forwarded client has its own.
        assert statuses == ([400, 400] if trusted else [400, 429])
        proxy = unique_address()


def test_logins_keep_working_when_redis_is_unreachable(
    settings: Settings, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    down = settings.model_copy(
        update={"redis_url": "redis://127.0.0.1:1/0", "token_rate_limit_per_minute": 1}
    )
    with caplog.at_level(logging.WARNING), TestClient(create_app(down)) as client:
        assert [login(client).status_code for _ in range(3)] == [200] * 3
    warnings = [r for r in caplog.records if r.name == rate_limit.__name__]
    assert len(warnings) == 1
    assert "not limited" in warnings[0].getMessage()
