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

    An error that says it `keeps_changes` (a counted login failure, a revoked token
    family) is committed and then re-raised. This, with the request dependency that
    uses it, is the only place that commits; services flush.
    """
    with sessions() as session:
        try:
            yield session
        except BaseException as exc:
            if getattr(exc, "keeps_changes", False):
                session.commit()
            else:
                session.rollback()
            raise
        session.commit()
