"""deploy/entrypoint.sh run for real: migrate a new database, serve, work, stop cleanly.

The same commands the image runs, against the local PostgreSQL and Redis, on 127.0.0.1.
"""

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from backend.db.models import AuditEvent, User, UserStatus
from backend.settings import Settings
from tests.deploy.conftest import (
    Started,
    Starter,
    answers,
    run_role,
    stack_env,
    wait_until,
)
from tests.integration.worker.conftest import insert_users
from tests.support.database import database_urls, drop_database, recreate_database
from tests.support.ports import free_port

PASSWORD = "deploy test passphrase"
USERS = 3000


@pytest.fixture
def fresh_env(
    settings: Settings, admin_database_url: str, tmp_path: Path, worker_id: str
) -> Iterator[dict[str, str]]:
    """A deployment's environment on a database that no migration has touched yet."""
    name = f"tessera_deploy_{uuid.uuid4().hex[:8]}_{worker_id}"
    recreate_database(admin_database_url, name)
    owner_url, app_url = database_urls(admin_database_url, name)
    # A Redis db of its own: no task left over by other tests reaches this worker.
    index = 8 + (int(worker_id[2:]) if worker_id.startswith("gw") else 0)
    redis_url = settings.redis_url.rsplit("/", 1)[0] + f"/{index}"
    yield stack_env(
        settings,
        tmp_path,
        TESSERA_DATABASE_URL=app_url,
        TESSERA_MIGRATION_DATABASE_URL=owner_url,
        TESSERA_REDIS_URL=redis_url,
    )
    drop_database(admin_database_url, name)


def _job(client: httpx.Client, token: str, job_id: str) -> dict[str, object]:
    response = client.get(f"/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _start_worker(start_role: Starter, env: dict[str, str]) -> Started:
    return start_role("worker", {**env, "TESSERA_WORKER_CONCURRENCY": "1"}, "--without-mingle")


def test_migrate_serve_work_and_stop_cleanly(
    fresh_env: dict[str, str], start_role: Starter, tmp_path: Path
) -> None:
    migrated = run_role("migrate", fresh_env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    # The application role it granted works, under row-level security.
    app_engine = create_engine(fresh_env["TESSERA_DATABASE_URL"], poolclass=NullPool)
    with app_engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM users")) == 0
    app_engine.dispose()

    port = free_port()
    env = {**fresh_env, "TESSERA_PORT": str(port), "TESSERA_API_WORKERS": "2"}
    api = start_role("api", env)
    # Small batches and a short soft shutdown: the job is still running when the worker
    # is told to stop, so it must be handed back and finished by the next worker.
    worker = _start_worker(
        start_role,
        {**env, "TESSERA_JOB_CHUNK_SIZE": "10", "TESSERA_WORKER_SOFT_SHUTDOWN_SECONDS": "0.5"},
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(f"{base}/readyz"), timeout=60, what=f"/readyz\n{api.output()}")

    created = subprocess.run(
        [str(Path(sys.executable).parent / "tessera"), "create-tenant", "acme", "--name", "Acme",
         "--owner-email", "boss@acme.test", "--owner-password", PASSWORD],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr

    owner_engine = create_engine(fresh_env["TESSERA_MIGRATION_DATABASE_URL"], poolclass=NullPool)
    with owner_engine.connect() as connection:
        tenant_id = connection.scalar(text("SELECT id FROM tenants WHERE slug = 'acme'"))
    insert_users(owner_engine, tenant_id, USERS)

    request_id = f"deploy-{uuid.uuid4().hex[:12]}"
    with httpx.Client(base_url=base, timeout=10) as client:
        login = client.post(
            "/token",
            data={
                "grant_type": "password",
                "username": "acme/boss@acme.test",
                "password": PASSWORD,
            },
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        asked = client.post(
            "/users/bulk-disable",
            json={"all_users": True},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id},
        )
        assert asked.status_code == 202, asked.text
        assert asked.headers["x-request-id"] == request_id
        job_id = asked.json()["id"]

        # Stop the worker in the middle of the job: it must exit cleanly and hand the
        # unfinished job back, for the next worker to finish from where it stopped.
        wait_until(
            lambda: int(_job(client, token, job_id)["progress"]["done"]) > 0,  # type: ignore[index]
            timeout=60,
            what=f"the job's first batch\n{worker.output()}",
        )
        assert worker.stop(timeout=60) == 0, worker.output()
        assert _job(client, token, job_id)["status"] == "running"
        metrics_port = free_port()
        _start_worker(
            start_role,
            {
                **env,
                "TESSERA_WORKER_METRICS_PORT": str(metrics_port),
                "TESSERA_WORKER_METRICS_HOST": "127.0.0.1",
            },
        )
        wait_until(
            lambda: _job(client, token, job_id)["status"] == "succeeded",
            timeout=90,
            what="the job to finish",
        )
        job = _job(client, token, job_id)
        assert job["result"] == {"disabled": USERS, "skipped_owners": 1}
        assert job["progress"] == {"done": USERS, "total": USERS}

        metrics = client.get("/metrics").text
        assert 'tessera_logins_total{outcome="success"} 1.0' in metrics
        assert 'route="/users/bulk-disable",status="202"' in metrics
        # The worker's own endpoint, summed over its pool's processes.
        worker_metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert (
            'tessera_task_duration_seconds_count{state="SUCCESS",task="tessera.jobs.run"} 1.0'
            in worker_metrics
        )

    with owner_engine.connect() as connection:
        disabled = connection.scalar(
            select(func.count()).select_from(User).where(User.status == UserStatus.DISABLED)
        )
        # Every user disabled exactly once, and the worker's audit rows carry the id of the
        # request that asked for the job.
        audited = connection.execute(
            select(AuditEvent.request_id, func.count())
            .where(AuditEvent.action == "user.disabled")
            .group_by(AuditEvent.request_id)
        ).all()
    owner_engine.dispose()
    assert disabled == USERS
    assert audited == [(request_id, USERS)]

    # The API drains and exits 0 on SIGTERM; its log lines are JSON with the request id.
    assert api.stop(timeout=60) == 0, api.output()
    assert f'"request_id": "{request_id}"' in api.output()
    assert make_url(env["TESSERA_DATABASE_URL"]).password not in api.output()
