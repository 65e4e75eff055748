"""The unit of work: commit or roll back at the edge, never inside a service."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's current transaction has committed.

    For side effects outside the database, such as dropping a cache entry, that must
    not run before the change is visible. Callbacks should be idempotent: one whose
    transaction rolls back runs at the session's next commit, if any.
    """
    event.listen(session, "after_commit", lambda _: callback(), once=True)


@contextmanager
def unit_of_work(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: committed if the block succeeds, rolled back otherwise.

    This, `finish` and the request dependency that uses it are the only places that
    commit; services flush.
    """
    session = sessions()
    try:
        yield session
    except BaseException as exc:
        finish(session, exc)
        raise
    finish(session, None)


def finish(session: Session, exc: BaseException | None) -> None:
    """End the session: commit, or roll back if the work failed with `exc`; then close.

    An error that says it `keeps_changes` (a counted login failure, a revoked token
    family) is committed: its caller re-raises it.
    """
    try:
        if exc is None or getattr(exc, "keeps_changes", False):
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()
