"""Redis stops under a live API, then comes back on the same port.

Redis is an accelerator and a message bus here, never a dependency of a login or a
guarded request: the rate limit fails open, the principal cache falls back to PostgreSQL,
a job's task waits in its row for the requeue sweep. This Redis is the test's own
(EmbeddedRedis on a port it picks), never the machine's shared one.
"""

import time
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy.orm import Session

from backend.db.models import UserStatus
from backend.devstack.embedded import EmbeddedRedis
from backend.security.principal_cache import PrincipalCache
from backend.services import user_admin
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import TenantFactory, UserFactory
from tests.faults.conftest import StartApi, login_form, password_login, timed, wait_for
from tests.support.live_server import free_port, server_env

pytestmark = pytest.mark.faults

REQUESTS_DURING_OUTAGE = 10
OWNER_LOGIN = login_form("acme/ada@acme.test")
# A request must not wait on the dead Redis: well under the client's 2 s socket timeouts.
FAST_S = 1.5


def redis_keys(url: str, pattern: str) -> list[bytes]:
    with redis.Redis.from_url(url, socket_timeout=2) as client:
        return list(client.scan_iter(match=pattern, count=1000))


def cache_listeners(url: str) -> int:
    """How many processes' principal caches are subscribed to the invalidation channel."""
    with redis.Redis.from_url(url, socket_timeout=2) as client:
        channel = PrincipalCache(client).channel
        return int(dict(client.pubsub_numsub(channel))[channel.encode()])


def test_logins_and_guarded_requests_survive_a_redis_outage_and_recover(
    db: Session, effects: Effects, settings: Settings, tmp_path: Path, start_api: StartApi
) -> None:
    tenant = TenantFactory(slug="acme")
    UserFactory(tenant=tenant, email="ada@acme.test", roles=[builtin_role(db, tenant, "owner")])
    member = UserFactory(
        tenant=tenant, email="bob@acme.test", roles=[builtin_role(db, tenant, "member")]
    )
    db.commit()
    port = free_port()
    redis_dir = tmp_path / "redis"

    with EmbeddedRedis(redis_dir, port=port) as server:
        url = server.url
        env = server_env(
            settings,
            tmp_path / "var",
            TESSERA_REDIS_URL=url,
            # On, so the test can see the limiter count in Redis again after the outage.
            TESSERA_TOKEN_RATE_LIMIT_PER_MINUTE="1000",
        )
        api = start_api(env)
        client = httpx.Client(base_url=api.url, timeout=10)
        login = password_login(client, "acme/ada@acme.test")
        assert login.status_code == 200, login.text
        assert client.get("/me", headers=bearer(login.json()["access_token"])).status_code == 200
        assert redis_keys(url, "tessera:ratelimit:*"), "the limiter never reached Redis"
        assert cache_listeners(url), "the principal cache never subscribed to Redis"
        member_token = password_login(client, "acme/bob@acme.test").json()["access_token"]

    # Redis is gone: nothing listens on its port any more.
    assert client.get("/readyz").json()["checks"]["redis"] == "unavailable"
    for _ in range(REQUESTS_DURING_OUTAGE):
        login = timed(client, "POST", "/token", data=OWNER_LOGIN)
        assert login.status == 200, login
        assert login.seconds < FAST_S, f"login took {login.seconds:.2f}s without Redis"
        token = str(login.body["access_token"])
        for path in ("/me", "/users", "/roles"):
            answer = timed(client, "GET", path, headers=bearer(token))
            assert answer.status == 200, (path, answer)
            assert answer.seconds < FAST_S, f"{path} took {answer.seconds:.2f}s without Redis"

    # A job asked for meanwhile is recorded and answered at once; its task waits.
    offboard = timed(client, "POST", f"/users/{member.id}/offboard", headers=bearer(token))
    assert offboard.status == 202, offboard
    assert offboard.seconds < FAST_S
    assert offboard.body["status"] == "queued"

    # Without the cache, a change of standing still cuts a token off at once.
    assert client.get("/me", headers=bearer(member_token)).status_code == 200
    user_admin.set_status(
        db, effects, tenant.id, member.id, UserStatus.DISABLED, reason="fault test"
    )
    db.commit()
    assert client.get("/me", headers=bearer(member_token)).status_code == 401

    # Redis comes back on the same port, empty; the API finds it without a restart.
    with EmbeddedRedis(redis_dir, port=port):
        assert api.process.poll() is None

        def back_in_use() -> bool:
            fresh = password_login(client, "acme/ada@acme.test").json()["access_token"]
            client.get("/me", headers=bearer(fresh))
            return bool(redis_keys(url, "tessera:ratelimit:*")) and cache_listeners(url) > 0

        # Each user backs off Redis for 5 s after an error.
        wait_for(back_in_use, timeout=20, what="the API to use Redis again")
        assert client.get("/readyz").status_code == 200
        started = time.monotonic()
        assert password_login(client, "acme/ada@acme.test").status_code == 200
        assert time.monotonic() - started < FAST_S
