"""The owner rule under concurrency: two application sessions against real PostgreSQL,
the second started while the first is uncommitted, each removing one of the tenant's
two owners by any path (disable, delete, revoke, an expiry set on the grant, an
offboarding job's step). Whatever the pair, one wins and the other is refused, and
the tenant keeps an active owner."""

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from backend.db.models import Role, UserStatus
from backend.db.tenant_context import enter_tenant
from backend.domain.errors import ConflictError
from backend.domain.scopes import TENANT_SCOPES
from backend.domain.subjects import SubjectKind
from backend.services import grants, offboarding, user_admin
from backend.services.effects import Effects
from backend.services.principals import Principal
from tests.conftest import builtin_role
from tests.factories import RoleFactory, TenantFactory, UserFactory
from tests.support.owners import lasting_owners

# Long enough for a second transaction that does not wait to have finished its work.
BLOCKED_S = 0.5
# (session, effects, actor, owner role id, user) -> None: one way of removing an owner.
Removal = Callable[[Session, Effects, Principal, uuid.UUID, uuid.UUID], None]


def disable(
    db: Session, effects: Effects, actor: Principal, owner_role: uuid.UUID, user: uuid.UUID
) -> None:
    user_admin.disable(db, effects, actor, user, reason="race")


def delete(
    db: Session, effects: Effects, actor: Principal, owner_role: uuid.UUID, user: uuid.UUID
) -> None:
    user_admin.delete(db, effects, actor, user)


def revoke(
    db: Session, effects: Effects, actor: Principal, owner_role: uuid.UUID, user: uuid.UUID
) -> None:
    grants.unassign(db, effects, actor, user, owner_role)


def make_lapsing(
    db: Session, effects: Effects, actor: Principal, owner_role: uuid.UUID, user: uuid.UUID
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    grants.assign(db, effects, actor, user, owner_role, expires_at=later)


def offboard_job_step(
    db: Session, effects: Effects, actor: Principal, owner_role: uuid.UUID, user: uuid.UUID
) -> None:
    offboarding.offboard_step(db, effects, actor.tenant_id, user, actor=actor.actor)


@dataclass(frozen=True)
class Owners:
    tenant_id: uuid.UUID
    effects: Effects
    actor: Principal
    owner_role: uuid.UUID
    first: uuid.UUID
    second: uuid.UUID


@pytest.fixture
def two_owners(db: Session, effects: Effects) -> Owners:
    """Two owners, and an admin who holds every tenant scope without being one."""
    tenant = TenantFactory()
    owner_role = builtin_role(db, tenant, "owner")
    first, second = (UserFactory(tenant=tenant, roles=[owner_role]) for _ in range(2))
    admin = UserFactory(tenant=tenant, roles=[RoleFactory(tenant=tenant, scopes=TENANT_SCOPES)])
    db.commit()
    actor = Principal(
        kind=SubjectKind.USER,
        subject_id=admin.id,
        tenant_id=tenant.id,
        scopes=frozenset(TENANT_SCOPES),
        platform=False,
    )
    return Owners(tenant.id, effects, actor, owner_role.id, first.id, second.id)


def race(engine: Engine, owners: Owners, first: Removal, second: Removal) -> BaseException | None:
    """Run `first` on one owner, and `second` on the other while `first` is uncommitted.

    Returns how `second` ended: None if it committed, else its error.
    """
    outcome: list[BaseException | None] = []

    def run_second() -> None:
        with Session(engine) as session:
            enter_tenant(session, owners.tenant_id)
            try:
                second(session, owners.effects, owners.actor, owners.owner_role, owners.second)
                session.commit()
                outcome.append(None)
            except ConflictError as exc:
                outcome.append(exc)

    with Session(engine) as session:
        enter_tenant(session, owners.tenant_id)
        first(session, owners.effects, owners.actor, owners.owner_role, owners.first)
        racer = threading.Thread(target=run_second)
        racer.start()
        racer.join(timeout=BLOCKED_S)
        waited = racer.is_alive()
        session.commit()
    racer.join(timeout=10)
    assert not racer.is_alive(), "the second removal never finished"
    assert waited, "the second removal counted owners before the first one committed"
    assert len(outcome) == 1
    return outcome[0]


REMOVALS: dict[str, Removal] = {
    "disable": disable,
    "delete": delete,
    "revoke": revoke,
    "expiry": make_lapsing,
    "offboard job": offboard_job_step,
}
PAIRS = [
    ("disable", "disable"),
    ("delete", "delete"),
    ("disable", "revoke"),
    ("revoke", "disable"),
    ("revoke", "revoke"),
    ("delete", "expiry"),
    ("offboard job", "offboard job"),
    ("offboard job", "disable"),
    ("disable", "offboard job"),
]


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a} || {b}" for a, b in PAIRS])
def test_two_owners_removed_at_once_leave_one(
    db: Session, app_engine: Engine, two_owners: Owners, first: str, second: str
) -> None:
    refused = race(app_engine, two_owners, REMOVALS[first], REMOVALS[second])
    assert isinstance(refused, ConflictError)
    assert "owner" in str(refused)
    assert lasting_owners(db, two_owners.tenant_id) == 1


def test_removals_of_owners_while_another_stays_do_not_wait_for_nothing(
    db: Session, app_engine: Engine, two_owners: Owners
) -> None:
    """With a third owner, both removals commit: the lock orders them, it refuses neither."""
    third = UserFactory(
        tenant_id=two_owners.tenant_id,
        tenant=None,
        roles=[db.get_one(Role, (two_owners.tenant_id, two_owners.owner_role))],
    )
    db.commit()
    assert race(app_engine, two_owners, disable, revoke) is None
    assert lasting_owners(db, two_owners.tenant_id) == 1
    db.refresh(third)
    assert third.status is UserStatus.ACTIVE
