"""Unit-of-work helpers: commit or roll back at the edge, and the tenant context."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker


@contextmanager
def unit_of_work(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: committed if the block succeeds, rolled back otherwise.

    This is the only place, with the request dependency, that commits; services flush.
    """
    with sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def set_tenant(session: Session, tenant_id: uuid.UUID) -> None:
    """Bind the current transaction to one tenant.

    Transaction-local (`set_config(..., true)`), so a pooled connection never carries a
    tenant into the next transaction. Row-level security policies read this setting.
    """
    session.execute(
        text("SELECT set_config('app.tenant_id', :tenant_id, true)"),
        {"tenant_id": str(tenant_id)},
    )
