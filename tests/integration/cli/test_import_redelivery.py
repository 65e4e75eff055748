"""`tessera import users` when the worker running the import is SIGKILLed half-way: the
job is handed out again and finishes, and no row is lost or imported twice.

Its own module: the other import tests share one worker, which would take this job too.
"""

import os
import signal
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from backend.db.models import JobStatus, User
from tests.factories import TenantFactory
from tests.integration.cli.conftest import RunCli
from tests.integration.worker.conftest import WorkerFactory, wait_for
from tests.support.user_imports import (
    assert_each_imported_once,
    bulk_file,
    job_id_of,
    job_row,
    users_trigger,
)

ROWS = 600
# Every inserted user takes this long while the first worker runs, so that its import
# (ROWS of them, at least 12 s) is still under way when the kill lands, however fast
# the machine: the test kills it as soon as a first batch is in.
SLOW_INSERT_SECONDS = 0.02


@pytest.fixture
def acme(db: Session) -> uuid.UUID:
    tenant = TenantFactory(slug="acme")
    db.commit()
    return tenant.id


def test_a_worker_killed_half_way_loses_nothing_and_imports_nothing_twice(
    acme: uuid.UUID,
    owner_engine: Engine,
    run_cli: RunCli,
    start_worker: WorkerFactory,
    db: Session,
    tmp_path: Path,
) -> None:
    bulk_file(tmp_path / "users.csv", ROWS)
    # Redelivery 3 s after the task was taken, instead of an hour.
    redelivery = {"TESSERA_CELERY_VISIBILITY_TIMEOUT_SECONDS": "3"}
    with users_trigger(
        owner_engine, "test_slow_insert", f"PERFORM pg_sleep({SLOW_INSERT_SECONDS});"
    ) as drop_slow_inserts:
        first = start_worker(TESSERA_JOB_CHUNK_SIZE="5", **redelivery)
        staged = run_cli(
            "import", "users", "--tenant", "acme", "--no-wait", str(tmp_path / "users.csv")
        )
        assert staged.returncode == 0, staged.stdout + staged.stderr
        job_id = job_id_of(staged.stdout)
        wait_for(lambda: job_row(db, job_id).progress_done > 0, timeout=60, what="a first batch")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        # Once dropped, the killed worker's open transaction has ended (the drop waits for
        # it): what the database holds now is what the first worker left.
        drop_slow_inserts()

    done_at_kill = job_row(db, job_id).progress_done
    assert 0 < done_at_kill < ROWS, "the worker must die half-way for this test to mean anything"
    assert db.scalar(select(func.count()).select_from(User)) == done_at_kill

    start_worker(**redelivery)
    wait_for(
        lambda: job_row(db, job_id).status is JobStatus.SUCCEEDED, timeout=180, what="redelivery"
    )
    job = job_row(db, job_id)
    assert job.attempts >= 2
    assert (job.progress_done, job.progress_total) == (ROWS, ROWS)
    assert job.result == {"imported": ROWS, "exists": 0, "rejected": 0}
    assert_each_imported_once(db, ROWS)
    report = run_cli("import", "report", "--tenant", "acme", job_id)
    assert report.returncode == 0
    assert f"succeeded, {ROWS} of {ROWS} rows done" in report.stdout
