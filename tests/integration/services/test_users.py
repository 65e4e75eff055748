"""The user listing's query plan as the application role, under row-level security."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from backend.db.tenant_context import enter_tenant
from backend.services import user_listing
from backend.services.user_listing import UserFilter
from tests.factories import TenantFactory, UserFactory


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from plan_nodes(child)


def test_a_deep_page_is_an_index_range_not_a_filtered_scan(db: Session, app_engine: Engine) -> None:
    """PostgreSQL applies the tenant policy before any condition that is not leakproof;
    the keyset on the stored email_lower is, so it must stay an index condition. Were
    it a filter, every page would scan the tenant from its first user."""
    tenant = TenantFactory()
    for n in range(30):
        UserFactory(tenant=tenant, email=f"{'Uu'[n % 2]}ser{n:02}@example.test", password_hash=None)
    db.commit()
    statements: list[tuple[str, Any]] = []
    with Session(app_engine) as session:
        enter_tenant(session, tenant.id)
        # A planner free to choose would scan 30 rows; the question is where the key goes.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            session.execute(text(f"SET LOCAL {setting} = off"))
        connection = session.connection()

        @event.listens_for(connection, "before_cursor_execute")
        def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
            statements.append((statement, parameters))

        page = user_listing.list_users(
            session, tenant.id, UserFilter(), after=("user10@example.test", uuid.uuid4()), limit=5
        )
        event.remove(connection, "before_cursor_execute", capture)
        assert [row.email_lower for row in page.items] == [
            f"user{n}@example.test" for n in range(11, 16)
        ]

        statement, parameters = statements[-1]
        raw = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar()
        plan = (raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]
    scans = [node for node in plan_nodes(plan) if node["Node Type"] == "Index Scan"]
    assert len(scans) == 1, plan
    assert "email_lower)::text > 'user10@example.test'" in scans[0]["Index Cond"], plan
    assert "email_lower" not in scans[0].get("Filter", ""), plan
