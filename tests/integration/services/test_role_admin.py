"""Concurrent role edits, which HTTP cannot interleave on demand: two application
sessions against real PostgreSQL, the second started while the first is uncommitted."""

import threading

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from backend.db.tenant_context import enter_tenant
from backend.domain.errors import RoleCycleError
from backend.domain.scopes import TENANT_SCOPES
from backend.domain.subjects import SubjectKind
from backend.services import role_admin
from backend.services.effects import Effects
from backend.services.principals import Principal
from tests.conftest import builtin_role
from tests.factories import RoleFactory, TenantFactory, UserFactory


def test_two_edits_that_together_close_a_cycle_cannot_both_commit(
    db: Session, app_engine: Engine, effects: Effects
) -> None:
    tenant = TenantFactory()
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    a, b = RoleFactory(tenant=tenant, name="a"), RoleFactory(tenant=tenant, name="b")
    db.commit()
    actor = Principal(
        kind=SubjectKind.USER,
        subject_id=owner.id,
        tenant_id=tenant.id,
        scopes=frozenset(TENANT_SCOPES),
        platform=False,
    )
    outcome: list[BaseException | None] = []

    def second_edit() -> None:
        with Session(app_engine) as session:
            enter_tenant(session, tenant.id)
            try:
                role_admin.update_role(session, effects, actor, b.id, includes=frozenset({a.id}))
                session.commit()
                outcome.append(None)
            except RoleCycleError as exc:
                outcome.append(exc)

    with Session(app_engine) as first:
        enter_tenant(first, tenant.id)
        role_admin.update_role(first, effects, actor, a.id, includes=frozenset({b.id}))
        racer = threading.Thread(target=second_edit)
        racer.start()
        racer.join(timeout=0.5)
        assert racer.is_alive(), "the second edit should wait for the first to commit"
        first.commit()
    racer.join(timeout=10)
    assert len(outcome) == 1
    assert isinstance(outcome[0], RoleCycleError)
    assert set(outcome[0].cycle) == {"a", "b"}
