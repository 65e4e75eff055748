"""`python -m bench` (`make bench`): every scenario of docs/benchmarks.md, one table.

Order: data first (set-based SQL), then scenario 9 on its own servers (1 and 2 uvicorn
workers, each argon2 setting), then one HS256 server with the default argon2 setting
for scenarios 1, 7, 3, 2, 11 (with the peers), 4, 6 and 5 (with a Celery worker), then
an EdDSA server for scenarios 1, 8 and 10, then a server with OWASP's minimum argon2
for 3 and 2.
"""

import base64
import os
import sys
import time
import uuid
from typing import Any

import redis
from sqlalchemy import Engine, text

from backend.security.passwords import PasswordService
from backend.security.tokens import AccessTokenCodec
from bench import (
    data,
    report,
    scenarios_data,
    scenarios_http,
    scenarios_kit,
    scenarios_peers,
    scenarios_projects,
    scenarios_rates,
)
from bench.load import ensure_wrk
from bench.measure import Row
from bench.stack import (
    OWASP_MINIMUM,
    RECOMMENDED,
    Argon2,
    Server,
    Stack,
    bench_stack,
    server,
    worker,
)

STARTED = time.monotonic()
# BENCH_ONLY=1,4 runs those scenarios alone (data is generated either way).
ONLY = {part.strip() for part in os.environ.get("BENCH_ONLY", "").split(",") if part.strip()}


def wanted(*scenarios: str) -> bool:
    return not ONLY or bool(ONLY.intersection(scenarios))


def say(message: str) -> None:
    print(f"[bench {time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def token_for(
    stack: Stack, codec: AccessTokenCodec, tenant: uuid.UUID, user: uuid.UUID, scope: str
) -> str:
    with stack.owner.connect() as connection:
        version = connection.scalar(
            text("SELECT token_version FROM users WHERE tenant_id = :t AND id = :u"),
            {"t": tenant, "u": user},
        )
    return codec.issue(
        user_id=user, tenant_id=tenant, scope=scope, token_version=int(version or 1)
    ).token


def current_hash(owner: Engine, tenant: uuid.UUID) -> str:
    with owner.connect() as connection:
        return str(
            connection.scalar(
                text("SELECT password_hash FROM users WHERE tenant_id = :t LIMIT 1"), {"t": tenant}
            )
        )


def run(stack: Stack, rows: list[Row], raw: dict[str, Any]) -> None:
    settings = stack.settings("HS256", RECOMMENDED)
    say("generating data with set-based SQL")
    made = data.generate(stack.owner, PasswordService(settings), data.Sizes())
    raw["data"] = {"counts": made.counts, "seconds": round(made.seconds, 1)}
    say(f"data ready in {made.seconds:.1f}s: {made.counts}")
    token_files = scenarios_http.refresh_files(stack.scratch)
    ceiling = data.Sizes().ceiling_refresh_tokens
    per_file = data.export_refresh_tokens(
        stack.owner, made.small_tenant, token_files, leave=ceiling
    )
    data.refresh_ceiling(stack.owner, made.small_tenant, ceiling)
    if wanted("9"):
        # Before scenario 5 offboards the big tenant: its live refresh tokens are these.
        say("9 per-vCPU rates (1 and 2 workers)")
        rate_files = scenarios_rates.token_files(stack.scratch)
        per_rate_file = data.export_refresh_tokens(stack.owner, made.big_tenant, rate_files)
        found, raw["9_rates"] = scenarios_rates.per_vcpu(stack, made, rate_files, per_rate_file)
        rows += found

    with server(stack, stack.server_env("HS256", RECOMMENDED), "hs256") as srv:
        codec = AccessTokenCodec(settings)
        me = token_for(stack, codec, made.small_tenant, made.small_owner, "me")
        if wanted("1", "7"):
            say("1 guarded read, HS256")
            found, raw["1_hs256"] = scenarios_http.guarded_read(srv, me, "HS256")
            rows += found
            rows.append(scenarios_http.worker_memory(srv))
        login_scenarios(srv, stack, made, me, RECOMMENDED, "recommended", rows, raw)
        if wanted("11"):
            say("11 peers: the docs example and fastapi-users beside Tessera")
            found, raw["11_peers"] = scenarios_peers.side_by_side(
                srv, stack, made, me, PasswordService(settings)
            )
            rows += found
        if wanted("4"):
            say("4 refresh, beside client credentials, code exchanges and introspection")
            found, raw["4_refresh"] = scenarios_http.refresh(
                srv, stack, made.small_tenant, token_files, per_file, grants(stack, made, me)
            )
            rows += found
        if wanted("6"):
            say("6 listing")
            reader = token_for(stack, codec, made.big_tenant, made.big_owner, "users:read")
            found, raw["6_listing"] = scenarios_data.listing(srv, stack, made, reader)
            rows += found
        if wanted("5"):
            say("5 lifecycle (Celery worker)")
            disabler = token_for(stack, codec, made.big_tenant, made.big_owner, "users:disable")
            with worker(stack, stack.server_env("HS256", RECOMMENDED)) as celery:
                found, raw["5_lifecycle"] = scenarios_data.lifecycle(
                    srv, stack, made, disabler, celery
                )
            rows += found

    if wanted("1", "8", "10"):
        with server(stack, stack.server_env("EdDSA", RECOMMENDED), "eddsa") as srv:
            codec = AccessTokenCodec(stack.settings("EdDSA", RECOMMENDED))
            if wanted("1"):
                me = token_for(stack, codec, made.small_tenant, made.small_owner, "me")
                say("1 guarded read, EdDSA")
                found, raw["1_eddsa"] = scenarios_http.guarded_read(srv, me, "EdDSA")
                rows += found
            if wanted("8"):
                say("8 standings feed delay (tessera_fastapi)")
                disabler = token_for(
                    stack, codec, made.small_tenant, made.small_owner, "users:disable"
                )
                found, raw["8_feed_delay"] = scenarios_kit.feed_delay(
                    srv, stack, made, codec, disabler
                )
                rows += found
            if wanted("10"):
                say("10 GET /projects/{id} via tessera_fastapi vs bare (examples/projects)")
                found, raw["10_kit_vs_bare"] = scenarios_projects.kit_vs_bare(srv, stack, made)
                rows += found

    if wanted("2", "3"):
        with server(stack, stack.server_env("HS256", OWASP_MINIMUM), "owasp") as srv:
            codec = AccessTokenCodec(stack.settings("HS256", OWASP_MINIMUM))
            me = token_for(stack, codec, made.small_tenant, made.small_owner, "me")
            login_scenarios(srv, stack, made, me, OWASP_MINIMUM, "owasp", rows, raw)


def grants(stack: Stack, made: data.Dataset, introspected: str) -> scenarios_http.Grants:
    """Scenario 4's accounts and codes, in the small tenant."""
    files = [
        stack.scratch / f"codes-{i}.txt"
        for i in range(len(scenarios_http.refresh_files(stack.scratch)))
    ]
    data.mint_codes(stack.owner, made.small_tenant, files, scenarios_http.CODES_PER_RUN)
    return scenarios_http.Grants(
        client_basic=basic(*data.add_service_account(stack.owner, made.small_tenant)),
        introspector_basic=basic(*data.add_introspector(stack.owner, made.small_tenant)),
        introspected=introspected,
        code_files=files,
    )


def basic(client_id: str, secret: str) -> str:
    return base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def login_scenarios(
    srv: Server,
    stack: Stack,
    made: data.Dataset,
    me: str,
    argon2: Argon2,
    tag: str,
    rows: list[Row],
    raw: dict[str, Any],
) -> None:
    """Scenarios 3 and 2 for one argon2 setting, the logins' passwords hashed under it."""
    if not wanted("2", "3"):
        return
    passwords = PasswordService(stack.settings("HS256", argon2))
    data.set_passwords(stack.owner, passwords, made.small_tenant)
    if wanted("3"):
        say(f"3 login cost, {argon2.name}")
        hashed = current_hash(stack.owner, made.small_tenant)
        found, raw[f"3_{tag}"] = scenarios_http.login_cost(srv, made.login_users, argon2, hashed)
        rows.extend(found)
    if wanted("2"):
        say(f"2 logins vs a guarded GET, {argon2.name}")
        found, raw[f"2_{tag}"] = scenarios_http.login_starvation(srv, me, made.login_users, argon2)
        rows.extend(found)


def main() -> int:
    ensure_wrk()
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    with bench_stack() as stack:
        with redis.Redis.from_url(stack.redis_url) as client:
            redis_version = str(client.info("server")["redis_version"])
        about = report.machine(stack.owner, redis_version)
        run(stack, rows, raw)
        say("done; dropping the bench database")
    elapsed = time.monotonic() - STARTED
    # A partial run must not replace the figures of the last whole one.
    name = "latest" if not ONLY else "only-" + "-".join(sorted(ONLY))
    path = report.write(rows, raw, about, elapsed, name)
    print(report.table(rows))
    print(f"\n{len(rows)} rows in {elapsed:.0f}s; written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
