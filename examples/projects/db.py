"""The service's tables, and transactions bound to the caller's tenant.

`projects` is under row-level security (see the migration): every statement sees and
writes only the rows whose tenant_id is the transaction's `app.tenant_id`. It is set
transaction-locally, so a pooled connection never carries a tenant into its next use,
and a transaction that sets none sees no rows at all.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
    text,
)

NAME_MAX_LENGTH = 200

metadata = MetaData()

projects = Table(
    "projects",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=text("gen_random_uuid()")),
    Column("tenant_id", Uuid, nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(f"char_length(name) BETWEEN 1 AND {NAME_MAX_LENGTH}", name="name_length"),
)

_SET_TENANT = text("SELECT set_config('app.tenant_id', :tenant_id, true)")


@contextmanager
def tenant_transaction(engine: Engine, tenant_id: uuid.UUID) -> Iterator[Connection]:
    """One transaction that sees only `tenant_id`'s rows; commits unless it raises."""
    with engine.begin() as connection:
        connection.execute(_SET_TENANT, {"tenant_id": str(tenant_id)})
        yield connection
