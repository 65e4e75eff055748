"""Check-then-act that holds when requests race: the database decides who wins.

Services check first (a name taken, a key already revoked), so the usual case gets a
clear answer cheaply; but a check reads a moment that is gone by the time the change is
written. Three tools settle what the check cannot see, each in the database:

- uniqueness: the write is made in a savepoint, and the unique constraint refusing it
  is the same ConflictError the check gives (`unique`), or for an idempotent write the
  sign that a concurrent request made it first (`insert_new`);
- state changes: a conditional `UPDATE ... WHERE <still in the old state> RETURNING`
  (`changed`): of many racing requests exactly one gets its row back, and only that one
  writes the audit event;
- whole structures with no single row to lock (a tenant's role graph): a transaction-
  scoped advisory lock (`advisory_lock`), shared by readers that need it stable and
  exclusive for writers.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from psycopg.errors import UniqueViolation
from sqlalchemy import Delete, Row, Update, literal_column, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.domain.errors import ConflictError


@contextmanager
def unique(db: Session, constraint: str, conflict: str) -> Iterator[None]:
    """Write what the block adds or changes in a savepoint: a duplicate refused by
    `constraint` (a unique constraint or index, by name) is ConflictError(`conflict`),
    409, with the transaction still usable. Any other integrity error propagates.

    Changes made before the block are flushed on entering it, outside the savepoint.
    """
    try:
        with db.begin_nested():
            yield
    except IntegrityError as exc:
        if not _violates(exc, constraint):
            raise
        raise ConflictError(conflict) from exc


def insert_new(db: Session, row: object, constraint: str) -> bool:
    """Insert `row`; False if `constraint` refused it as a duplicate.

    Then a concurrent transaction inserted the same key first and has committed (the
    insert waited for it), the row is dropped from the session, and the caller can read
    the winner's row in the same transaction: for idempotent writes, where a duplicate
    is not an error.
    """
    try:
        with unique(db, constraint, conflict=constraint):
            db.add(row)
    except ConflictError:
        return False
    return True


def _violates(exc: IntegrityError, constraint: str) -> bool:
    """Whether `exc` is a unique violation of the constraint or index named `constraint`."""
    orig = exc.orig
    return isinstance(orig, UniqueViolation) and orig.diag.constraint_name == constraint


def changed(db: Session, statement: Update | Delete, *returning: Any) -> Row[Any] | None:
    """Run a conditional UPDATE or DELETE of one row: the row's `returning` columns if it
    changed it, else None.

    The statement's WHERE names the state the change moves away from (`revoked_at IS
    NULL`). Racing requests queue on the row's lock, and each re-checks the WHERE against
    the row as the one before it left it: only the first finds the old state.
    """
    return db.execute(statement.returning(*(returning or [literal_column("1")]))).first()


def advisory_lock(db: Session, name: str, key: Any, *, shared: bool = False) -> None:
    """Hold the lock (`name`, `key`) until the transaction ends (commit or rollback).

    For what has no one row to lock. Shared holders run together and exclude an
    exclusive one. Needs no privilege; keys are hashed into PostgreSQL's two int4s.
    """
    db.execute(_SHARED if shared else _EXCLUSIVE, {"name": name, "key": str(key)})


_EXCLUSIVE = text("SELECT pg_advisory_xact_lock(hashtext(:name), hashtext(:key))")
_SHARED = text("SELECT pg_advisory_xact_lock_shared(hashtext(:name), hashtext(:key))")
