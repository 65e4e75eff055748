"""A real Celery worker process against the test database and Redis."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from backend.settings import PROJECT_ROOT, Settings

WorkerFactory = Callable[..., subprocess.Popen[bytes]]


def worker_env(settings: Settings, **overrides: str) -> dict[str, str]:
    assert settings.secret_key is not None
    assert settings.encryption_key is not None
    env = {
        **os.environ,
        "TESSERA_ENV": "test",
        "TESSERA_DATABASE_URL": settings.database_url,
        "TESSERA_REDIS_URL": settings.redis_url,
        "TESSERA_SECRET_KEY": settings.secret_key.get_secret_value(),
        "TESSERA_ENCRYPTION_KEY": settings.encryption_key.get_secret_value(),
        "TESSERA_ARGON2_MEMORY_COST_KIB": str(settings.argon2_memory_cost_kib),
        "TESSERA_ARGON2_TIME_COST": str(settings.argon2_time_cost),
        "TESSERA_ARGON2_PARALLELISM": str(settings.argon2_parallelism),
    }
    env.update(overrides)
    return env


def spawn_worker(settings: Settings, log: Path, **overrides: str) -> subprocess.Popen[bytes]:
    """A `celery worker` process (solo pool: one process, so SIGKILL kills it all)."""
    with log.open("wb") as sink:
        return subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "backend.worker.app", "worker",
                "--pool", "solo", "--loglevel", "INFO",
                "--hostname", f"test-{uuid.uuid4().hex[:8]}@%h", "--without-mingle",
                "--without-gossip",
            ],
            cwd=PROJECT_ROOT,
            env=worker_env(settings, **overrides),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as an operator stops one; SIGKILL if it does not exit."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture
def start_worker(settings: Settings, tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start workers with the environment given; any left running are stopped after."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**overrides: str) -> subprocess.Popen[bytes]:
        process = spawn_worker(settings, tmp_path / f"worker-{len(started)}.log", **overrides)
        started.append(process)
        return process

    yield start
    for process in started:
        stop_worker(process)


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll until `condition` holds; bounded, so a stuck worker fails the test, not CI."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def insert_users(owner_engine: Engine, tenant_id: uuid.UUID, count: int) -> None:
    """Many users at once, set-based: arranging thousands through factories is slow."""
    with owner_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (tenant_id, id, email, password_hash) "
                "SELECT :tenant, gen_random_uuid(), 'bulk' || n || '@example.test', NULL "
                "FROM generate_series(1, :count) AS n"
            ),
            {"tenant": tenant_id, "count": count},
        )


def insert_sessions(owner_engine: Engine, tenant_id: uuid.UUID) -> None:
    """A session for every user of the tenant: a rotated refresh token and a live one."""
    with owner_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO refresh_families "
                "  (tenant_id, id, user_id, created_at, last_used_at, expires_at) "
                "SELECT tenant_id, gen_random_uuid(), id, now(), now(), now() + interval '1 day' "
                "FROM users WHERE tenant_id = :tenant"
            ),
            {"tenant": tenant_id},
        )
        connection.execute(
            text(
                "INSERT INTO refresh_tokens (tenant_id, id, family_id, user_id, token_hash, "
                "  scope, issued_at, expires_at, used_at) "
                "SELECT f.tenant_id, gen_random_uuid(), f.id, f.user_id, "
                "  sha256(convert_to(f.id::text || used, 'UTF8')), 'me', now(), "
                "  now() + interval '1 hour', CASE WHEN used = 'used' THEN now() END "
                "FROM refresh_families f CROSS JOIN (VALUES ('used'), ('live')) AS u(used) "
                "WHERE f.tenant_id = :tenant"
            ),
            {"tenant": tenant_id},
        )
