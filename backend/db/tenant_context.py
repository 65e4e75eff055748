"""The transaction's tenant: every query on tenant-owned tables sees only its rows.

Row-level security policies compare each row's tenant_id with `app.tenant_id`, set
transaction-locally (`set_config(..., true)`) so a pooled connection never carries a
tenant into its next transaction. With no tenant set, tenant-owned tables look empty.
"""

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class CallerState:
    user_status: str
    token_version: int
    tenant_status: str


def enter_tenant(session: Session, tenant_id: uuid.UUID) -> None:
    """Bind the current transaction to one tenant."""
    session.execute(
        text("SELECT set_config('app.tenant_id', :tenant_id, true)"),
        {"tenant_id": str(tenant_id)},
    )


def enter_tenant_by_slug(session: Session, slug: str) -> uuid.UUID | None:
    """Login's way in: resolve a tenant slug across tenants and bind the transaction to it.

    The one lookup that must see past row-level security, done by a SECURITY DEFINER
    function that returns nothing but the id. None (and no tenant bound) if unknown.
    """
    tenant_id: uuid.UUID | None = session.scalar(
        text("SELECT tessera_enter_tenant_by_slug(:slug)"), {"slug": slug}
    )
    return tenant_id


def enter_tenant_as(
    session: Session, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> CallerState | None:
    """The guard's one statement: bind the tenant and read the caller's standing in it.

    Runs with the caller's own rights, so row-level security applies to the read; doing
    both in one function keeps isolation from costing the hot path a round trip.
    """
    row = session.execute(
        text(
            "SELECT user_status, token_version, tenant_status "
            "FROM tessera_enter_tenant_as(:tenant_id, :user_id)"
        ),
        {"tenant_id": tenant_id, "user_id": user_id},
    ).one_or_none()
    if row is None:
        return None
    return CallerState(user_status=row[0], token_version=row[1], tenant_status=row[2])
