"""The standings snapshot: where a resource server following the feed starts from.

A follower applies the snapshot, then the feed's changes after the snapshot's cursor.
The cursor is read before the tables, so every change published at or before it is in
what is read, and any later one comes again on the feed (applying it twice is harmless).

The snapshot names only what a follower cannot assume: tenants with their status, and
the subjects whose standing is not a new subject's (disabled, revoked or deleted, or a
token version past the first). A subject it does not name may use any token Tessera
issued it that verifies.
"""

import uuid
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.db.models import ServiceAccount, Tenant, User
from backend.db.tenant_context import enter_tenant
from backend.domain.standing import ACTIVE, DISABLED
from backend.domain.subjects import SubjectKind
from backend.security.standings_feed import StandingsFeed, SubjectChange
from backend.services import tenants
from backend.services.principals import Principal

# The token version every subject starts with (the column's default).
FIRST_TOKEN_VERSION = 1


@dataclass(frozen=True, slots=True)
class TenantStanding:
    tenant_id: uuid.UUID
    status: str


@dataclass(frozen=True, slots=True)
class TenantSubjects:
    tenant_id: uuid.UUID
    subjects: list[SubjectChange]


@dataclass(frozen=True, slots=True)
class Snapshot:
    cursor: str
    tenants: list[TenantStanding]
    subjects: list[TenantSubjects]


def snapshot(db: Session, operator: Principal, feed: StandingsFeed) -> Snapshot:
    """Every tenant's status and the standing of each subject that is not a new one's,
    with the feed cursor the snapshot is consistent with. For platform principals only.

    One statement per tenant and kind of subject: row-level security binds tenant-owned
    tables to one tenant at a time, and the operator's own is bound again at the end.
    """
    cursor = feed.cursor()
    tenants.enter_as_operator(db, operator)
    rows = db.execute(select(Tenant.id, Tenant.status).order_by(Tenant.id)).all()
    standings = [TenantStanding(tenant_id, status.value) for tenant_id, status in rows]
    subjects = []
    for tenant in standings:
        enter_tenant(db, tenant.tenant_id)
        found = _users(db, tenant.tenant_id) + _service_accounts(db, tenant.tenant_id)
        if found:
            subjects.append(TenantSubjects(tenant.tenant_id, found))
    enter_tenant(db, operator.tenant_id)
    return Snapshot(cursor=cursor, tenants=standings, subjects=subjects)


# The tenant is named in each statement as well as bound: the policy alone (a function
# call per row) keeps PostgreSQL from using the (tenant_id, ...) index.
def _users(db: Session, tenant_id: uuid.UUID) -> list[SubjectChange]:
    rows = db.execute(
        select(User.id, User.token_version, User.status)
        .where(
            User.tenant_id == tenant_id,
            or_(User.status != ACTIVE, User.token_version != FIRST_TOKEN_VERSION),
        )
        .order_by(User.id)
    ).all()
    kind = SubjectKind.USER.value
    return [SubjectChange(kind, str(i), version, status.value) for i, version, status in rows]


def _service_accounts(db: Session, tenant_id: uuid.UUID) -> list[SubjectChange]:
    rows = db.execute(
        select(ServiceAccount.id, ServiceAccount.token_version, ServiceAccount.revoked_at)
        .where(
            ServiceAccount.tenant_id == tenant_id,
            or_(
                ServiceAccount.revoked_at.is_not(None),
                ServiceAccount.token_version != FIRST_TOKEN_VERSION,
            ),
        )
        .order_by(ServiceAccount.id)
    ).all()
    kind = SubjectKind.SERVICE_ACCOUNT.value
    return [
        SubjectChange(kind, str(i), version, ACTIVE if revoked is None else DISABLED)
        for i, version, revoked in rows
    ]
