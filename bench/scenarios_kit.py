"""8: the standings feed's delay, from a disable in Tessera to a kit that refuses it.

Tessera is the bench's EdDSA server; the product service is an app guarded by
tessera_fastapi in this process, following Tessera's feed with a platform service
account made here. For each of DELAY_SAMPLES fresh users: their token passes, the
owner disables them over the API, and the app is asked again until it refuses. The
clock starts when the disable is sent, so the figure includes Tessera's own request
and commit: an upper bound of commit -> refusal.
"""

import time
import uuid

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import text
from tessera_fastapi import TesseraGuard

from backend.security.opaque import new_secret
from backend.security.tokens import AccessTokenCodec
from backend.services.service_accounts import SECRET_KIND
from bench.data import Dataset
from bench.measure import Row, at_most
from bench.stack import Server, Stack
from tests.support.kit import guarded_app

DELAY_SAMPLES = 30
TARGET_MS = 100.0
POLL_SECONDS = 0.0005
SNAPSHOT_TIMEOUT_S = 300.0

Raw = dict[str, object]


def feed_delay(
    srv: Server, stack: Stack, made: Dataset, codec: AccessTokenCodec, disabler: str
) -> tuple[list[Row], Raw]:
    client_id, secret = feed_account(stack)
    users = _users(stack, made.small_tenant, DELAY_SAMPLES)
    guard = TesseraGuard(
        issuer=srv.url, audience=stack.settings("EdDSA").jwt_audience,
        client_id=client_id, client_secret=secret,
    )  # fmt: skip
    delays: list[float] = []
    with TestClient(guarded_app(guard)) as app, httpx.Client(base_url=srv.url) as tessera:
        snapshot_seconds = _require_live(guard)
        for user in users:
            token = codec.issue(
                user_id=user, tenant_id=made.small_tenant, scope="me", token_version=1
            ).token
            auth = {"Authorization": f"Bearer {token}"}
            admitted = app.get("/whoami", headers=auth)
            if admitted.status_code != 200:
                raise RuntimeError(f"the kit refused a live token: {admitted.text}")
            started = time.perf_counter()
            answer = tessera.post(
                f"/users/{user}/disable", headers={"Authorization": f"Bearer {disabler}"}
            )
            if answer.status_code != 200:
                raise RuntimeError(f"disable answered {answer.status_code}: {answer.text}")
            while app.get("/whoami", headers=auth).status_code == 200:
                time.sleep(POLL_SECONDS)
            delays.append((time.perf_counter() - started) * 1000)
    row = Row(
        "8 standings feed delay",
        "ms",
        "target",
        "disable sent -> kit refuses",
        [TARGET_MS] * len(delays),
        delays,
        f"< {TARGET_MS:.0f} ms",
        at_most(1.0),
    )
    return [row], {
        "delays_ms": [round(d, 2) for d in delays],
        "first_snapshot_seconds": round(snapshot_seconds, 1),
    }


def _require_live(guard: TesseraGuard) -> float:
    """Wait (bounded) for the kit to follow the feed; the seconds its first snapshot took."""
    started = time.perf_counter()
    while guard.follower is None or not guard.follower.live:
        if time.perf_counter() - started > SNAPSHOT_TIMEOUT_S:
            raise RuntimeError("the kit is not following the feed")
        time.sleep(0.1)
    return time.perf_counter() - started


def feed_account(stack: Stack) -> tuple[str, str]:
    """A platform service account whose role carries standings:read."""
    tenant, role, account = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    slug = stack.settings().platform_tenant_slug
    secret = new_secret(SECRET_KIND, tenant)
    with stack.owner.begin() as db:
        found = db.scalar(text("SELECT id FROM tenants WHERE slug = :s"), {"s": slug})
        if found is not None:
            tenant = found
            secret = new_secret(SECRET_KIND, tenant)
        else:
            db.execute(
                text("INSERT INTO tenants (id, slug, name) VALUES (:t, :s, 'Platform')"),
                {"t": tenant, "s": slug},
            )
        params = {"t": tenant, "r": role, "a": account, "h": secret.digest, "p": secret.prefix}
        statements = [
            "INSERT INTO roles (tenant_id, id, name, description, builtin) "
            "VALUES (:t, :r, 'bench-feed-' || :r, '', false)",
            "INSERT INTO role_scopes (tenant_id, role_id, scope) VALUES (:t, :r, 'standings:read')",
            "INSERT INTO service_accounts (tenant_id, id, name, secret_hash, secret_prefix) "
            "VALUES (:t, :a, 'bench-feed-' || :a, :h, :p)",
            "INSERT INTO service_account_roles (tenant_id, service_account_id, role_id) "
            "VALUES (:t, :a, :r)",
        ]
        for statement in statements:
            db.execute(text(statement), params)
    return f"sa_{tenant.hex}_{account.hex}", secret.value


def _users(stack: Stack, tenant: uuid.UUID, count: int) -> list[uuid.UUID]:
    users = [uuid.uuid4() for _ in range(count)]
    with stack.owner.begin() as db:
        for user in users:
            db.execute(
                text(
                    "INSERT INTO users (tenant_id, id, email, full_name) "
                    "VALUES (:t, :u, 'feed-' || :u || '@bench.test', 'Feed bench')"
                ),
                {"t": tenant, "u": user},
            )
    return users
