"""`tessera import users`: a real CLI process stages the file, a real worker imports it,
and the users log in over HTTP with the passwords they had."""

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from backend.db.models import AuditEvent, ImportRow, Job, JobStatus, User
from backend.settings import PROJECT_ROOT, Settings
from tests.factories import RoleFactory, TenantFactory
from tests.integration.cli.conftest import RunCli
from tests.integration.worker.conftest import spawn_worker, stop_worker
from tests.support.database import drop_database, recreate_database
from tests.support.hashes import django_pbkdf2, passlib_pbkdf2
from tests.support.user_imports import (
    BCRYPT,
    HEADER,
    assert_each_imported_once,
    bulk_file,
    imported_events,
    job_id_of,
    job_row,
    users_trigger,
)

# The test settings' argon2 parameters: what a login rehashes to.
CURRENT_ARGON2 = "$argon2id$v=19$m=64,t=1,p=1$"


@pytest.fixture
def acme(db: Session) -> uuid.UUID:
    tenant = TenantFactory(slug="acme")
    RoleFactory(tenant=tenant, name="support")
    db.commit()
    return tenant.id


@pytest.fixture(scope="module")
def worker(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One worker for the module: each test needs one running, and a worker's start would
    be most of a test's time. Batches of 10 (the failed-batch test counts them)."""
    log = tmp_path_factory.mktemp("import-worker") / "worker.log"
    process = spawn_worker(settings, log, TESSERA_JOB_CHUNK_SIZE="10")
    yield
    stop_worker(process)


def login(client: TestClient, email: str, password: str) -> tuple[int, dict[str, str]]:
    response = client.post(
        "/token",
        data={"grant_type": "password", "username": f"acme/{email}", "password": password},
    )
    return response.status_code, response.json()


def stored_hash(db: Session, email: str) -> str | None:
    db.expire_all()
    return db.scalars(select(User.password_hash).where(User.email == email)).one()


@pytest.fixture
def fastapi_users_database(admin_database_url: str, settings: Settings) -> Iterator[str]:
    """A scratch database holding fastapi-users' `user` table (SQLAlchemyBaseUserTableUUID)."""
    name = settings.owner_database_url.rsplit("/", 1)[1].split("?")[0] + "_fastapi_users"
    recreate_database(admin_database_url, name)
    url = make_url(admin_database_url).set(database=name)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(
            text(
                'CREATE TABLE "user" (id uuid PRIMARY KEY, email varchar(320) NOT NULL, '
                "hashed_password varchar(1024) NOT NULL, is_active boolean NOT NULL, "
                "is_superuser boolean NOT NULL, is_verified boolean NOT NULL)"
            )
        )
        connection.execute(text('CREATE UNIQUE INDEX ix_user_email ON "user" (email)'))
    engine.dispose()
    yield url.set(drivername="postgresql").render_as_string(hide_password=False)
    drop_database(admin_database_url, name)


def documented_export() -> str:
    """The shell block docs/migrating.md gives for a fastapi-users database."""
    doc = (PROJECT_ROOT / "docs" / "migrating.md").read_text()
    match = re.search(r"<!-- fastapi-users export:[^>]*-->\n```sh\n(.*?)```", doc, re.S)
    assert match, "docs/migrating.md lost its fastapi-users export block"
    return match.group(1)


def test_a_fastapi_users_database_comes_in_and_logs_in_with_its_passwords(
    acme: uuid.UUID,
    fastapi_users_database: str,
    run_cli: RunCli,
    worker: None,
    client: TestClient,
    db: Session,
    tmp_path: Path,
) -> None:
    bash = shutil.which("bash")
    assert bash, "the documented export is a bash block"
    assert shutil.which("psql"), "the documented export runs psql"
    # fastapi-users' PasswordHelper: pwdlib's argon2 (its defaults) and bcrypt hashers.
    argon2, bcrypt = Argon2Hasher(), BcryptHasher()
    people = [
        ("ann@acme.test", "ann's old passphrase", argon2, True, False),
        ("Bob@Acme.test", "bob's bcrypt secret!", bcrypt, True, False),
        ("cat@acme.test", "cat is the superuser", argon2, True, True),
        ("dan@acme.test", "dan left the company", bcrypt, False, False),
    ]
    hashes = {email: hasher.hash(password) for email, password, hasher, _, _ in people}
    source = create_engine(fastapi_users_database.replace("postgresql://", "postgresql+psycopg://"))
    with source.begin() as connection:
        for email, _, _, active, superuser in people:
            connection.execute(
                text('INSERT INTO "user" VALUES (:id, :email, :hash, :active, :super, false)'),
                {
                    "id": uuid.uuid4(),
                    "email": email,
                    "hash": hashes[email],
                    "active": active,
                    "super": superuser,
                },
            )
    source.dispose()

    export = subprocess.run(
        [bash, "-e"],
        input=documented_export(),
        env={**os.environ, "FASTAPI_USERS_DATABASE_URL": fastapi_users_database},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert export.returncode == 0, export.stderr
    result = run_cli("import", "users", "--tenant", "acme", str(tmp_path / "users.csv"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 imported, 0 already there (left unchanged), 0 rejected" in result.stdout
    assert "4/4" in result.stderr  # the progress bar's last state

    # The hashes came in as they were: the import never rehashes.
    for email in hashes:
        assert stored_hash(db, email) == hashes[email]
    for email, password, _, active, superuser in people:
        status, body = login(client, email.upper(), password)
        if not active:
            assert (status, body["error_description"]) == (400, "user is disabled")
            continue
        assert status == 200, body
        scopes = set(body["scope"].split())
        assert ("users:write" in scopes) is superuser
        assert "me" in scopes
        # Rehashed at this first login to the current argon2id parameters.
        assert (stored_hash(db, email) or "").startswith(CURRENT_ARGON2)
        assert login(client, email, password)[0] == 200
    assert login(client, "ann@acme.test", "not ann's passphrase")[0] == 400
    assert stored_hash(db, "dan@acme.test") == hashes["dan@acme.test"]
    assert len(imported_events(db)) == 4


def test_pbkdf2_users_from_jsonl_log_in_and_are_rehashed(
    acme: uuid.UUID,
    run_cli: RunCli,
    worker: None,
    client: TestClient,
    db: Session,
    tmp_path: Path,
) -> None:
    users = {
        "pat@acme.test": ("passlib pbkdf2 secret", passlib_pbkdf2),
        "dee@acme.test": ("django pbkdf2 secret", django_pbkdf2),
    }
    lines = [
        json.dumps(
            {"email": email, "full_name": "P", "roles": ["support"], "password_hash": make(pw)}
        )
        for email, (pw, make) in users.items()
    ]
    (tmp_path / "users.ndjson").write_text("\n".join(lines) + "\n")
    result = run_cli("import", "users", "--tenant", "acme", str(tmp_path / "users.ndjson"))
    assert result.returncode == 0, result.stdout + result.stderr
    for email, (password, _) in users.items():
        assert (stored_hash(db, email) or "").startswith(("$pbkdf2-sha256$", "pbkdf2_sha256$"))
        status, body = login(client, email, password)
        assert status == 200, body
        assert body["scope"] == ""  # support is a custom role with no scope
        assert (stored_hash(db, email) or "").startswith(CURRENT_ARGON2)


def test_every_rejected_row_is_reported_with_its_line_and_reason(
    acme: uuid.UUID,
    run_cli: RunCli,
    worker: None,
    client: TestClient,
    db: Session,
    tmp_path: Path,
) -> None:
    good = BCRYPT.hash("a good old password")
    rows = [
        f"ok@acme.test,Ok,active,member;support,{good}",  # 2
        f"not-an-email,,active,,{good}",  # 3
        f"wiz@acme.test,,active,member;wizard,{good}",  # 4: no such role in the tenant
        "md5@acme.test,,active,,md5$seasalt$3f86d0d3d465b7b458c231bf3555c0e3",  # 5
        f"OK@acme.test,,active,,{good}",  # 6
        f"nul@acme.test,Nu\x00l,active,,{good}",  # 7
        f"long@acme.test,{'x' * 201},active,,{good}",  # 8
        f"odd@acme.test,,retired,,{good}",  # 9
    ]
    raw = (HEADER + "\n".join(rows) + "\n").encode()
    raw += b"bytes@acme.test,Caf\xe9,active,," + good.encode() + b"\n"  # 10: Latin-1, not UTF-8
    path = tmp_path / "users.csv"
    path.write_bytes(raw)

    result = run_cli("import", "users", "--tenant", "acme", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    reported = [line for line in result.stdout.splitlines() if line.startswith("line ")]
    assert reported == [
        "line 3: rejected: email 'not-an-email' is not a valid address",
        "line 4 (wiz@acme.test): rejected: unknown role(s): 'wizard'",
        "line 5 (md5@acme.test): rejected: unknown password hash format "
        "(expected bcrypt, argon2 or pbkdf2-sha256)",
        "line 6 (OK@acme.test): rejected: duplicate of line 2 (emails compare case-insensitively)",
        "line 7: rejected: full_name contains a NUL character",
        "line 8 (long@acme.test): rejected: full_name is longer than 200 characters",
        "line 9 (odd@acme.test): rejected: unknown status 'retired' (expected active or disabled)",
        "line 10: rejected: full_name is not valid UTF-8 (or holds a lone surrogate)",
    ]
    assert "1 imported, 0 already there (left unchanged), 8 rejected" in result.stdout
    assert login(client, "ok@acme.test", "a good old password")[0] == 200
    db.expire_all()
    assert db.scalars(select(User.email).order_by(User.email)).all() == ["ok@acme.test"]

    # The report command says the same; the staged rows keep no hash once done.
    job_id = job_id_of(result.stdout)
    report = run_cli("import", "report", "--tenant", "acme", job_id)
    assert report.returncode == 1
    assert [line for line in report.stdout.splitlines() if line.startswith("line ")] == reported
    assert db.scalar(select(func.count()).where(ImportRow.password_hash.is_not(None))) == 0


def test_a_jsonl_surrogate_and_oversized_fields_refuse_only_their_rows(
    acme: uuid.UUID, run_cli: RunCli, worker: None, db: Session, tmp_path: Path
) -> None:
    good = BCRYPT.hash("a good old password")
    path = tmp_path / "users.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"email": "a@acme.test", "password_hash": good}),
                '{"email": "b@acme.test", "full_name": "\\ud800", "password_hash": "' + good + '"}',
                json.dumps({"email": "c" * 60 + "@" + "d" * 300 + ".test", "password_hash": good}),
                json.dumps({"email": "e@acme.test", "password_hash": "$2b$12$" + "a" * 400}),
                json.dumps({"email": "f@acme.test", "roles": ["r" * 101], "password_hash": good}),
            ]
        )
        + "\n"
    )
    result = run_cli("import", "users", "--tenant", "acme", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("line ")] == [
        "line 2: rejected: full_name is not valid UTF-8 (or holds a lone surrogate)",
        "line 3: rejected: email is longer than 320 characters",
        "line 4 (e@acme.test): rejected: password_hash is longer than 255 characters",
        "line 5 (f@acme.test): rejected: a role name is longer than 100 characters",
    ]
    db.expire_all()
    assert db.scalars(select(User.email)).all() == ["a@acme.test"]


def test_running_the_same_file_again_changes_nothing(
    acme: uuid.UUID,
    run_cli: RunCli,
    worker: None,
    client: TestClient,
    db: Session,
    tmp_path: Path,
) -> None:
    rows = [
        f"u{n}@acme.test,User {n},active,member,{BCRYPT.hash(f'password number {n}')}"
        for n in range(3)
    ]
    path = tmp_path / "users.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    first = run_cli("import", "users", "--tenant", "acme", str(path))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "3 imported" in first.stdout
    assert login(client, "u0@acme.test", "password number 0")[0] == 200
    db.expire_all()
    before = db.execute(select(User.email, User.full_name, User.password_hash)).all()

    # The same file, and then one with a changed name and an upper-cased email: the
    # existing users are left exactly as they are.
    again = run_cli("import", "users", "--tenant", "acme", str(path))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "no changes: 0 imported, 3 already there (left unchanged), 0 rejected" in again.stdout
    path.write_text(HEADER + rows[0].replace("u0@", "U0@").replace("User 0", "Renamed") + "\n")
    changed = run_cli("import", "users", "--tenant", "acme", str(path))
    assert "no changes: 0 imported, 1 already there" in changed.stdout
    report = run_cli("import", "report", "--tenant", "acme", "--exists", job_id_of(changed.stdout))
    assert (
        "line 2 (U0@acme.test): exists: a user with this email is already in the tenant; "
        "left unchanged" in report.stdout
    )
    db.expire_all()
    assert db.execute(select(User.email, User.full_name, User.password_hash)).all() == before
    assert len(imported_events(db)) == 3


@pytest.fixture
def poisoned_users(owner_engine: Engine) -> Iterator[Callable[[], None]]:
    """A trigger of the operator's own that refuses one email: a batch that fails.
    Yields the cure."""
    with users_trigger(
        owner_engine,
        "test_poison",
        "IF NEW.email = 'poison@acme.test' THEN RAISE EXCEPTION 'poisoned row'; END IF;",
    ) as cure:
        yield cure


def test_a_failed_batch_keeps_the_batches_before_it_and_the_job_resumes(
    acme: uuid.UUID,
    poisoned_users: Callable[[], None],
    run_cli: RunCli,
    worker: None,
    db: Session,
    tmp_path: Path,
) -> None:
    bulk_file(tmp_path / "users.csv", 100, poison=57)  # line 59, in the 6th batch of 10
    failed = run_cli("import", "users", "--tenant", "acme", str(tmp_path / "users.csv"))
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert "the job failed: " in failed.stderr
    assert "poisoned row" in failed.stderr
    job_id = job_id_of(failed.stdout)
    assert f"go on with: tessera import resume --tenant acme {job_id}" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert failed.stdout.count("50 of 100 rows done") == 1
    assert db.scalar(select(func.count()).select_from(User)) == 50
    db.rollback()  # DROP TRIGGER waits for every open transaction on users

    poisoned_users()  # the cure
    resumed = run_cli("import", "resume", "--tenant", "acme", job_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "100 imported, 0 already there (left unchanged), 0 rejected" in resumed.stdout
    assert_each_imported_once(db, 100)
    job = job_row(db, job_id)
    assert (job.status, job.attempts, job.error) == (JobStatus.SUCCEEDED, 2, None)
    db.expire_all()
    resumed_events = db.scalars(
        select(AuditEvent.action).where(AuditEvent.target == f"job:{job_id}")
    )
    assert sorted(resumed_events) == ["job.requested", "job.resumed"]

    done = run_cli("import", "resume", "--tenant", "acme", job_id)
    assert done.returncode == 2
    assert "already succeeded" in done.stderr


@pytest.mark.parametrize(
    ("args", "content", "message"),
    [
        (["--tenant", "nope"], HEADER, "tenant 'nope' not found"),
        (["--tenant", "acme"], "email,fullname,password_hash\n", "unknown column(s) 'fullname'"),
        (["--tenant", "acme", "--format", "jsonl"], None, "cannot read"),
    ],
    ids=["unknown-tenant", "bad-header", "missing-file"],
)
def test_a_file_or_tenant_that_cannot_be_imported_exits_2_and_stages_nothing(
    acme: uuid.UUID,
    run_cli: RunCli,
    db: Session,
    tmp_path: Path,
    args: list[str],
    content: str | None,
    message: str,
) -> None:
    path = tmp_path / "users.csv"
    if content is not None:
        path.write_text(content)
    result = run_cli("import", "users", *args, str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert db.scalar(select(func.count()).select_from(Job)) == 0


def test_a_long_report_lists_the_first_hundred_and_the_report_command_all(
    acme: uuid.UUID, run_cli: RunCli, worker: None, tmp_path: Path
) -> None:
    good = BCRYPT.hash("a good old password")
    path = tmp_path / "users.csv"
    path.write_text(HEADER + "".join(f"bad{n},,,,{good}\n" for n in range(130)))
    result = run_cli("import", "users", "--tenant", "acme", str(path))
    assert result.returncode == 1
    listed = [line for line in result.stdout.splitlines() if line.startswith("line ")]
    assert len(listed) == 100
    assert listed[-1] == "line 101: rejected: email 'bad99' is not a valid address"
    job_id = job_id_of(result.stdout)
    assert (
        f"... and 30 more rejected rows: tessera import report --tenant acme {job_id}"
        in result.stdout
    )
    report = run_cli("import", "report", "--tenant", "acme", job_id)
    listed = [line for line in report.stdout.splitlines() if line.startswith("line ")]
    assert [int(line.split()[1].rstrip(":")) for line in listed] == list(range(2, 132))
