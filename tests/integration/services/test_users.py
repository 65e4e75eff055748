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


def explain_listing(
    app_engine: Engine,
    tenant_id: uuid.UUID,
    filters: UserFilter,
    *,
    after: user_listing.UserKey | None = None,
    limit: int = 50,
) -> tuple[list[str], dict[str, Any]]:
    """The listing's emails and the plan of its statement, as the application role,
    with the plans a small table would get (sequential scans, sorts) turned off."""
    statements: list[tuple[str, Any]] = []
    with Session(app_engine) as session:
        enter_tenant(session, tenant_id)
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            session.execute(text(f"SET LOCAL {setting} = off"))
        connection = session.connection()

        @event.listens_for(connection, "before_cursor_execute")
        def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
            statements.append((statement, parameters))

        page = user_listing.list_users(session, tenant_id, filters, after=after, limit=limit)
        event.remove(connection, "before_cursor_execute", capture)
        statement, parameters = statements[-1]
        raw = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar()
    plan = (raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]
    return [row.email for row in page.items], plan


def test_a_deep_page_is_an_index_range_not_a_filtered_scan(db: Session, app_engine: Engine) -> None:
    """PostgreSQL applies the tenant policy before any condition that is not leakproof;
    the keyset on the stored email_lower is, so it must stay an index condition. Were
    it a filter, every page would scan the tenant from its first user."""
    tenant = TenantFactory()
    for n in range(30):
        UserFactory(tenant=tenant, email=f"{'Uu'[n % 2]}ser{n:02}@example.test", password_hash=None)
    db.commit()
    # A planner free to choose would scan 30 rows; the question is where the key goes.
    emails, plan = explain_listing(
        app_engine, tenant.id, UserFilter(), after=("user10@example.test", uuid.uuid4()), limit=5
    )
    assert [e.lower() for e in emails] == [f"user{n}@example.test" for n in range(11, 16)]
    scans = [node for node in plan_nodes(plan) if node["Node Type"] == "Index Scan"]
    assert len(scans) == 1, plan
    assert "email_lower)::text > 'user10@example.test'" in scans[0]["Index Cond"], plan
    assert "email_lower" not in scans[0].get("Filter", ""), plan


def test_an_email_prefix_is_an_index_range_under_row_level_security(
    db: Session, app_engine: Engine
) -> None:
    """ILIKE is not leakproof: PostgreSQL ran it on each of the tenant's rows after the
    policy. The prefix must bound the index scan on email_lower from both sides."""
    tenant = TenantFactory()
    for n in range(30):
        UserFactory(tenant=tenant, email=f"{'ab'[n % 2]}{n:02}@example.test", password_hash=None)
    db.commit()
    emails, plan = explain_listing(app_engine, tenant.id, UserFilter(email_prefix="A1"))
    assert emails == [f"a{n}@example.test" for n in range(10, 20, 2)]
    scans = [node for node in plan_nodes(plan) if node["Node Type"] == "Index Scan"]
    assert len(scans) == 1, plan
    condition = scans[0]["Index Cond"]
    assert "(email_lower)::text >= 'a1'::text" in condition, plan
    assert "(email_lower)::text < 'a1" in condition, plan
    assert "email" not in scans[0].get("Filter", ""), plan


def test_an_email_prefix_matches_exactly_the_emails_that_start_with_it(
    db: Session, app_engine: Engine
) -> None:
    """At the edges of the range: the greatest code point after the prefix, a prefix of
    the prefix, the next character up, LIKE's wildcards as plain characters."""
    tenant = TenantFactory()
    top = chr(0x10FFFF)
    stored = [
        "ab@example.test",
        f"ab{top}@example.test",
        f"ab{top * 200}@example.test",
        f"ab_{top}x@example.test",
        "a@example.test",
        "ac@example.test",
        f"a{top}@example.test",
        "a%b@example.test",
        "AB.upper@example.test",
    ]
    for email in stored:
        UserFactory(tenant=tenant, email=email, password_hash=None)
    db.commit()
    for prefix in ("ab", "AB", f"ab{top}", "a", "a%", "ab_", "a_", "%", "", top):
        emails, _ = explain_listing(app_engine, tenant.id, UserFilter(email_prefix=prefix))
        expected = sorted(
            (e for e in stored if e.lower().startswith(prefix.lower())), key=str.lower
        )
        assert sorted(emails, key=str.lower) == expected, prefix
