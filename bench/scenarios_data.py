"""Scenarios 5 and 6: lifecycle and listing at scale, against hand-written SQL."""

import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from backend.api.routes.users import USERS
from bench.data import Dataset
from bench.load import LoadError, Run, pgbench, wrk
from bench.measure import ROUNDS, SECONDS, Row, alternate, at_most, runs_json
from bench.stack import Process, Server, Stack

PAGE = 50
DEEP_ROWS = 10_000
JOB_TIMEOUT = 300.0
Raw = dict[str, object]


def listing(srv: Server, stack: Stack, data: Dataset, token: str) -> tuple[list[Row], Raw]:
    """6: GET /users first page and 10,000 rows deep against the raw keyset SQL."""
    tenant = data.big_tenant
    with stack.owner.connect() as connection:
        email, user_id = connection.execute(
            text(
                "SELECT email_lower, id FROM users WHERE tenant_id = :t "
                "ORDER BY email_lower OFFSET :n LIMIT 1"
            ),
            {"t": tenant, "n": DEEP_ROWS - 1},
        ).one()
    cursor = USERS.cursor((email, user_id))
    auth = {"Authorization": f"Bearer {token}"}
    app_url = stack.libpq_url(stack.app_url)

    def api(query: str) -> Callable[[float], Run]:
        return lambda s: wrk(f"{srv.url}/users?{query}", seconds=s, connections=1, headers=auth)

    def raw(after: tuple[str, uuid.UUID] | None) -> Callable[[float], Run]:
        sql = _keyset_sql(tenant, after)
        return lambda s: pgbench(app_url, sql, seconds=s, scratch=stack.scratch)

    runs = alternate(
        {
            "bare": lambda s: wrk(srv.url + "/bench/bare", seconds=s, connections=1),
            "sql_first": raw(None),
            "api_first": api(f"limit={PAGE}"),
            "sql_deep": raw((email, user_id)),
            "api_deep": api(f"limit={PAGE}&cursor={cursor}"),
        },
        seconds=max(2.0, round(SECONDS * 0.6)),
    )
    bare = [r.p50_ms for r in runs["bare"]]

    def floor(name: str) -> list[float]:
        return [sql.p50_ms + b for sql, b in zip(runs[name], bare, strict=True)]

    rows = [
        Row(
            "6 listing 1M users",
            "p50 ms",
            "SQL+bare",
            "first page",
            floor("sql_first"),
            [r.p50_ms for r in runs["api_first"]],
            "<= 1.2x",
            at_most(1.2),
            unit=" ms",
        ),
        Row(
            "6 listing 1M users",
            "p50 ms",
            "SQL+bare",
            "page 10,000 deep",
            floor("sql_deep"),
            [r.p50_ms for r in runs["api_deep"]],
            "<= 1.2x",
            at_most(1.2),
            unit=" ms",
        ),
        Row(
            "6 listing 1M users",
            "p50 ms",
            "first page",
            "page 10,000 deep",
            [r.p50_ms for r in runs["api_first"]],
            [r.p50_ms for r in runs["api_deep"]],
            "~ 1x (<= 1.2x)",
            at_most(1.2),
            unit=" ms",
        ),
    ]
    return rows, runs_json(runs)


def _keyset_sql(tenant: uuid.UUID, after: tuple[str, uuid.UUID] | None) -> str:
    """What GET /users runs, written by hand: bind the tenant, one keyset query.

    The columns the response shows (whether a password is set, not its hash), ordered
    by the unique `email_lower`, a page starting after the cursor's email: under
    row-level security an index range scan of 51 entries at any depth.
    """
    where = f"users.tenant_id = '{tenant}'"
    if after is not None:
        email = after[0].replace("'", "''")
        where += f" AND users.email_lower > '{email}'"
    return (
        "BEGIN;\n"
        f"SELECT set_config('app.tenant_id', '{tenant}', true);\n"
        "SELECT users.id, users.email, users.full_name, users.status, users.disabled_at, "
        "users.disabled_reason, users.locked_until, users.failed_logins, users.last_login_at, "
        "users.created_at, "
        "users.password_hash IS NOT NULL AS password_set, "
        "users.status = 'disabled' AND users.email = concat('deleted-', users.id, '@invalid') "
        "AS deleted, users.email_lower "
        f"FROM users WHERE {where} ORDER BY users.email_lower LIMIT {PAGE + 1};\n"
        "COMMIT;\n"
    )


def lifecycle(
    srv: Server, stack: Stack, data: Dataset, token: str, worker: Process
) -> tuple[list[Row], Raw]:
    """5: offboard a 100,000-user tenant (200,000 refresh tokens) through the Celery job,
    and with one SQL statement doing the same updates and audit rows."""
    app = create_engine(stack.app_url, poolclass=NullPool)
    try:
        # Warm-up: a small job (worker, API and broker connections), then one SQL pass.
        _reset(stack.owner, data.big_tenant)
        with stack.owner.connect() as connection:
            some = [
                str(u)
                for u in connection.scalars(
                    text("SELECT id FROM users WHERE tenant_id = :t LIMIT 1000"),
                    {"t": data.big_tenant},
                )
            ]
        warm = {"user_ids": some, "reason": "warm", "offboard": True}
        _run_job(srv, stack.owner, data.big_tenant, token, warm)
        _reset(stack.owner, data.big_tenant)
        sql_seconds: list[float] = []
        job_seconds: list[float] = []
        rss_before: list[float] = []
        rss_peak: list[float] = []
        disabled: list[int] = []
        for _ in range(ROUNDS):
            _reset(stack.owner, data.big_tenant)
            started = time.perf_counter()
            count = _offboard_with_sql(app, data)
            sql_seconds.append(time.perf_counter() - started)
            _reset(stack.owner, data.big_tenant)
            rss_before.append(worker.rss_mb())
            with _peak_rss(worker) as peak:
                started = time.perf_counter()
                everyone = {"all_users": True, "reason": "bench", "offboard": True}
                done = _run_job(srv, stack.owner, data.big_tenant, token, everyone)
                job_seconds.append(time.perf_counter() - started)
            rss_peak.append(peak[0])
            if done != count:
                raise LoadError(f"the job offboarded {done} users, the SQL {count}")
            disabled.append(done)
        _reset(stack.owner, data.big_tenant)
    finally:
        app.dispose()
    rows = [
        Row(
            "5 offboard 100k users",
            "seconds",
            "one SQL statement",
            "Celery job",
            sql_seconds,
            job_seconds,
            "<= 1.5x",
            at_most(1.5),
            unit=" s",
        ),
        Row(
            "5 offboard 100k users",
            "worker RSS MB",
            "before job",
            "peak during job",
            rss_before,
            rss_peak,
            "flat (<= 1.10x)",
            at_most(1.10),
            unit=" MB",
        ),
    ]
    raw: Raw = {
        "sql_seconds": sql_seconds,
        "job_seconds": job_seconds,
        "worker_rss_before_mb": rss_before,
        "worker_rss_peak_mb": rss_peak,
        "users_offboarded": disabled,
    }
    return rows, raw


# What the offboarding job does, written by hand for the whole tenant at once: disable
# the active users (owners excepted), end every live session and its tokens, revoke the
# service accounts and API keys they made, one user.offboarded event per user changed.
_OFFBOARD_SQL = """
WITH owners AS (
  SELECT ur.user_id FROM grants ur
  JOIN roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id
  JOIN users u ON u.tenant_id = ur.tenant_id AND u.id = ur.user_id
  WHERE ur.tenant_id = :t AND r.builtin AND r.name = 'owner' AND u.status = 'active'
    AND (ur.expires_at IS NULL OR ur.expires_at > now())
), targets AS (
  SELECT id FROM users WHERE tenant_id = :t AND id NOT IN (SELECT user_id FROM owners)
), disabled AS (
  UPDATE users SET status = 'disabled', disabled_at = now(), disabled_reason = 'bench',
    token_version = token_version + 1
  WHERE tenant_id = :t AND status = 'active' AND id IN (SELECT id FROM targets)
  RETURNING id AS user_id
), families AS (
  UPDATE refresh_families SET revoked_at = now(), revoked_reason = 'offboarded'
  WHERE tenant_id = :t AND revoked_at IS NULL AND user_id IN (SELECT id FROM targets)
  RETURNING id, user_id
), tokens AS (
  UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = 'offboarded'
  WHERE tenant_id = :t AND revoked_at IS NULL AND family_id IN (SELECT id FROM families)
), accounts AS (
  UPDATE service_accounts SET revoked_at = now(), token_version = token_version + 1
  WHERE tenant_id = :t AND revoked_at IS NULL AND created_by IN (SELECT id FROM targets)
  RETURNING created_by AS user_id
), keys AS (
  UPDATE api_keys SET revoked_at = now()
  WHERE tenant_id = :t AND revoked_at IS NULL AND created_by IN (SELECT id FROM targets)
  RETURNING created_by AS user_id
), families_n AS (SELECT user_id, count(*) AS n FROM families GROUP BY user_id
), accounts_n AS (SELECT user_id, count(*) AS n FROM accounts GROUP BY user_id
), keys_n AS (SELECT user_id, count(*) AS n FROM keys GROUP BY user_id
), touched AS (
  SELECT user_id FROM disabled UNION SELECT user_id FROM families_n
  UNION SELECT user_id FROM accounts_n UNION SELECT user_id FROM keys_n
), audited AS (
  INSERT INTO audit_events (tenant_id, id, actor, action, target, data)
  SELECT :t, gen_random_uuid(), :actor, 'user.offboarded', 'user:' || touched.user_id,
    jsonb_build_object(
      'reason', 'bench',
      'before', jsonb_build_object(
        'status', CASE WHEN disabled.user_id IS NULL THEN 'disabled' ELSE 'active' END),
      'after', jsonb_build_object('status', 'disabled'),
      'sessions_revoked', coalesce(families_n.n, 0),
      'service_accounts_revoked', coalesce(accounts_n.n, 0),
      'api_keys_revoked', coalesce(keys_n.n, 0))
  FROM touched
  LEFT JOIN disabled ON disabled.user_id = touched.user_id
  LEFT JOIN families_n ON families_n.user_id = touched.user_id
  LEFT JOIN accounts_n ON accounts_n.user_id = touched.user_id
  LEFT JOIN keys_n ON keys_n.user_id = touched.user_id
  RETURNING 1
) SELECT count(*) FROM audited
"""


def _offboard_with_sql(app: Engine, data: Dataset) -> int:
    """The baseline: the job's updates and audit rows in one statement, as the app role."""
    with app.begin() as connection:
        connection.execute(
            text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(data.big_tenant)}
        )
        count = connection.scalar(
            text(_OFFBOARD_SQL), {"t": data.big_tenant, "actor": f"user:{data.big_owner}"}
        )
    return int(count or 0)


def _run_job(
    srv: Server, owner: Engine, tenant: uuid.UUID, token: str, body: dict[str, object]
) -> int:
    """POST /users/bulk-disable and wait for the job to finish; how many it offboarded."""
    request = urllib.request.Request(  # noqa: S310 (our own server on 127.0.0.1)
        f"{srv.url}/users/bulk-disable",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
        job_id = json.loads(answer.read())["id"]
    deadline = time.monotonic() + JOB_TIMEOUT
    while time.monotonic() < deadline:
        with owner.connect() as connection:
            status, result, error = connection.execute(
                text("SELECT status, result, error FROM jobs WHERE tenant_id = :t AND id = :j"),
                {"t": tenant, "j": job_id},
            ).one()
        if status == "succeeded":
            return int(result["offboarded"])
        if status == "failed":
            raise LoadError(f"bulk offboarding job failed: {error}")
        time.sleep(0.05)
    raise LoadError(f"bulk-disable job not done after {JOB_TIMEOUT:.0f}s")


def _reset(owner: Engine, tenant: uuid.UUID) -> None:
    """Everyone active with live sessions again, and the tables vacuumed, so every run
    starts the same."""
    with owner.begin() as connection:
        connection.execute(
            text(
                "UPDATE users SET status = 'active', disabled_at = NULL, disabled_reason = NULL "
                "WHERE tenant_id = :t AND status <> 'active'"
            ),
            {"t": tenant},
        )
        for table in ("refresh_families", "refresh_tokens"):
            connection.execute(
                text(
                    f"UPDATE {table} SET revoked_at = NULL, revoked_reason = NULL "  # noqa: S608
                    "WHERE tenant_id = :t AND revoked_at IS NOT NULL"
                ),
                {"t": tenant},
            )
    with owner.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(
            text("VACUUM ANALYZE users, refresh_families, refresh_tokens, audit_events")
        )


@contextmanager
def _peak_rss(process: Process) -> Iterator[list[float]]:
    """The highest RSS seen while the block runs, sampled every 50 ms."""
    peak = [process.rss_mb()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], process.rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join(timeout=5)
