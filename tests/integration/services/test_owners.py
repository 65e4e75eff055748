"""The owner rule on the set-based paths: whoever picked the users of a batch, and
however long before it ran, the change cannot take the tenant's last lasting owner."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import User, UserStatus
from backend.db.session import unit_of_work
from backend.db.tenant_context import enter_tenant
from backend.services import offboarding, sweeps
from backend.services.effects import Effects
from tests.conftest import builtin_role
from tests.factories import TenantFactory, UserFactory

LONG_AGO = datetime.now(UTC) - timedelta(days=400)


@dataclass(frozen=True)
class Tenant:
    id: uuid.UUID
    owner: uuid.UUID
    member: uuid.UUID


@pytest.fixture
def tenant(db: Session) -> Tenant:
    """One owner and one member, both idle far beyond the tenant's inactivity policy."""
    tenant = TenantFactory(policy={"inactivity_days": 30})
    owner = UserFactory(
        tenant=tenant, roles=[builtin_role(db, tenant, "owner")], last_login_at=LONG_AGO
    )
    member = UserFactory(tenant=tenant, last_login_at=LONG_AGO)
    db.commit()
    return Tenant(tenant.id, owner.id, member.id)


def status(db: Session, tenant: Tenant, user_id: uuid.UUID) -> UserStatus:
    db.expire_all()
    return db.get_one(User, (tenant.id, user_id)).status


@pytest.mark.parametrize("offboard", [False, True], ids=["disable", "offboard"])
def test_a_batch_handed_the_last_owner_leaves_them(
    db: Session, sessions: sessionmaker[Session], effects: Effects, tenant: Tenant, offboard: bool
) -> None:
    change = offboarding.offboard_users if offboard else offboarding.disable_users
    with unit_of_work(sessions) as session:
        enter_tenant(session, tenant.id)
        users = [tenant.owner, tenant.member]
        change(session, effects, tenant.id, users, actor="test", reason="test")
    assert status(db, tenant, tenant.member) is UserStatus.DISABLED
    assert status(db, tenant, tenant.owner) is UserStatus.ACTIVE


def test_an_inactivity_batch_acts_only_on_users_still_due_when_it_runs(
    db: Session, sessions: sessionmaker[Session], effects: Effects, tenant: Tenant
) -> None:
    """The sweep reads a batch, then acts on it; by then a user may have become an owner
    or logged in. The act asks again, under the owner lock, and spares them."""
    returned = UserFactory(tenant_id=tenant.id, tenant=None, last_login_at=datetime.now(UTC))
    db.commit()
    sweep = sweeps.SWEEPS["disable_inactive_users"]
    with unit_of_work(sessions) as session:
        enter_tenant(session, tenant.id)
        keys = [tenant.owner, tenant.member, returned.id]
        changed = sweep.act(session, effects, tenant.id, keys, datetime.now(UTC))
    assert changed == 1
    assert status(db, tenant, tenant.member) is UserStatus.DISABLED
    assert status(db, tenant, tenant.owner) is UserStatus.ACTIVE
    assert status(db, tenant, returned.id) is UserStatus.ACTIVE
