"""The transaction's tenant: every query on tenant-owned tables sees only its rows.

Row-level security policies compare each row's tenant_id with `app.tenant_id`, set
transaction-locally (`set_config(..., true)`) so a pooled connection never carries a
tenant into its next transaction. With no tenant set, tenant-owned tables look empty.
"""

import uuid

from sqlalchemy import Connection, TextClause, text
from sqlalchemy.orm import Session, SessionTransaction

from backend.domain.standing import SubjectStanding

_PENDING_TENANT = "tessera.pending_tenant"


_SET_TENANT = text("SELECT set_config('app.tenant_id', :tenant_id, true)")


def enter_tenant(session: Session, tenant_id: uuid.UUID) -> None:
    """Bind the current transaction to one tenant."""
    session.execute(_SET_TENANT, {"tenant_id": str(tenant_id)})


def enter_platform(session: Session) -> None:
    """Let this transaction see and change every tenant's row in `tenants` (only).

    For platform operators, after the principal's platform scope has been checked; the
    tenant-owned tables stay bound to `app.tenant_id` as always.
    """
    session.execute(text("SELECT set_config('app.platform', 'on', true)"))


def enter_tenant_on_first_query(session: Session, tenant_id: uuid.UUID) -> None:
    """Bind the tenant when the session first talks to the database, not before.

    A guarded request whose principal was vouched for by the cache may never query; one
    that does pays the binding then, inside the transaction it opens anyway.
    """
    if session.in_transaction():
        enter_tenant(session, tenant_id)
    else:
        session.info[_PENDING_TENANT] = tenant_id


def bind_pending_tenant(
    session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    """`after_begin` hook of the application's sessions (see db/engine.py)."""
    tenant_id = session.info.pop(_PENDING_TENANT, None)
    if tenant_id is not None:
        connection.execute(_SET_TENANT, {"tenant_id": str(tenant_id)})


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
) -> SubjectStanding | None:
    """The guard's one statement: bind the tenant and read the subject's standing in it.

    Runs with the principal's own rights, so row-level security applies to the read; doing
    both in one function keeps isolation from costing the hot path a round trip.
    """
    return _standing(session, _USER_STANDING, tenant_id, user_id)


def enter_tenant_as_service_account(
    session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID
) -> SubjectStanding | None:
    """enter_tenant_as, for a service account (a revoked one reads as disabled)."""
    return _standing(session, _SERVICE_ACCOUNT_STANDING, tenant_id, account_id)


# The tenant's slug, read per row of the function's result (the subquery names s), so
# after the function has bound the tenant: row-level security then shows its own row.
_SLUG = "(SELECT t.slug FROM tenants t WHERE t.id = :tenant_id AND s.user_status IS NOT NULL)"
_USER_STANDING = text(
    f"SELECT s.user_status, s.token_version, s.tenant_status, {_SLUG} "  # noqa: S608
    "FROM tessera_enter_tenant_as(:tenant_id, :subject_id) s"
)
_SERVICE_ACCOUNT_STANDING = text(
    f"SELECT s.user_status, s.token_version, s.tenant_status, {_SLUG} "  # noqa: S608
    "FROM tessera_enter_tenant_as_service_account(:tenant_id, :subject_id) s"
)


def _standing(
    session: Session, statement: TextClause, tenant_id: uuid.UUID, subject_id: uuid.UUID
) -> SubjectStanding | None:
    row = session.execute(
        statement, {"tenant_id": tenant_id, "subject_id": subject_id}
    ).one_or_none()
    if row is None:
        return None
    return SubjectStanding(
        user_status=row[0], token_version=row[1], tenant_status=row[2], tenant_slug=row[3]
    )
