"""What the `tessera import users` tests share: files to import, what the job left behind,
and triggers of the test's own on users (created as the tables' owner)."""

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pwdlib.hashers.bcrypt import BcryptHasher
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, ImportOutcome, ImportRow, Job, User

HEADER = "email,full_name,status,roles,password_hash\n"
JOB_ID = re.compile(r"import job ([0-9a-f-]{36})")
BCRYPT = BcryptHasher(rounds=4)


def job_id_of(output: str) -> str:
    match = JOB_ID.search(output)
    assert match, output
    return match.group(1)


def imported_events(db: Session) -> list[str]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent.target).where(AuditEvent.action == "user.imported")))


def bulk_file(path: Path, count: int, poison: int | None = None) -> None:
    """`count` users sharing one cheap hash; row `poison` gets the poisoned email."""
    shared = BCRYPT.hash("the shared password")
    emails = ["poison@acme.test" if n == poison else f"bulk{n:04d}@acme.test" for n in range(count)]
    path.write_text(HEADER + "".join(f"{email},,active,,{shared}\n" for email in emails))


def job_row(db: Session, job_id: str) -> Job:
    db.expire_all()
    return db.scalars(select(Job).where(Job.id == uuid.UUID(job_id))).one()


def assert_each_imported_once(db: Session, count: int) -> None:
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(User)) == count
    targets = imported_events(db)
    assert len(targets) == len(set(targets)) == count
    outcomes = db.execute(select(ImportRow.outcome, func.count()).group_by(ImportRow.outcome))
    assert dict(outcomes.all()) == {ImportOutcome.IMPORTED: count}


@contextmanager
def users_trigger(owner_engine: Engine, name: str, body: str) -> Iterator[Callable[[], None]]:
    """A BEFORE INSERT trigger `name` on users that runs the PL/pgSQL `body` for each row,
    as an operator's own trigger would. Yields what drops it (a test may drop it early);
    dropped on leaving in any case. Dropping waits for every open transaction on users."""

    def drop() -> None:
        with owner_engine.begin() as connection:
            connection.execute(text(f"DROP TRIGGER IF EXISTS {name} ON users"))
            connection.execute(text(f"DROP FUNCTION IF EXISTS {name}()"))

    with owner_engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"{body} RETURN NEW; END $$"
            )
        )
        connection.execute(
            text(
                f"CREATE TRIGGER {name} BEFORE INSERT ON users "
                f"FOR EACH ROW EXECUTE FUNCTION {name}()"
            )
        )
    try:
        yield drop
    finally:
        drop()
