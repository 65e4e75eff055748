"""The audit log: written in the same transaction as the change it records, read
newest first. Append-only: the application's database role cannot update or delete it."""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent
from backend.db.tenant_context import enter_tenant
from backend.request_context import current_request
from backend.services.paging import Page, page_of

if TYPE_CHECKING:
    from backend.services.principals import Principal

SYSTEM = "system"
# The actor of an unauthenticated attempt, such as a failed login.
ANONYMOUS = "anonymous"
EventKey = tuple[datetime, uuid.UUID]


class Acting(Protocol):
    """Who made a change, as the log names them, and the tenant whose log it goes in: a
    principal, or an operator's command (`tessera apis apply`)."""

    @property
    def tenant_id(self) -> uuid.UUID: ...

    @property
    def actor(self) -> str: ...


def record(
    db: Session,
    *,
    tenant_id: uuid.UUID,
    actor: str,
    action: str,
    target: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Add one audit event; it commits or rolls back with the caller's unit of work.

    The request id and client address come from the current request, if any. `data`
    must never hold secrets: no passwords, tokens or keys.
    """
    record_many(db, tenant_id=tenant_id, actor=actor, action=action, targets=[target], data=data)


def record_by(
    db: Session, actor: Acting, action: str, target: str, data: dict[str, Any] | None = None
) -> None:
    """Add the one audit event of a change a principal made, in the principal's tenant:
    the path every admin mutation writes its event through. `data` must never hold
    secrets."""
    record(
        db, tenant_id=actor.tenant_id, actor=actor.actor, action=action, target=target, data=data
    )


def record_by_operator(
    db: Session, operator: "Principal", tenant_id: uuid.UUID, action: str, data: dict[str, Any]
) -> None:
    """Add the event of an operator's change to a tenant (target `tenant:<id>`) to that
    tenant's log and to the operator's own, once where they are one; leaves the
    transaction bound to the operator's tenant. `data` must never hold secrets."""
    target = f"tenant:{tenant_id}"
    if tenant_id != operator.tenant_id:
        enter_tenant(db, tenant_id)
        record(
            db, tenant_id=tenant_id, actor=operator.actor, action=action, target=target, data=data
        )
    enter_tenant(db, operator.tenant_id)
    record_by(db, operator, action, target, data)


def event_params(
    *,
    tenant_id: uuid.UUID,
    actor: str,
    action: str,
    target: str,
    data: dict[str, Any] | None = None,
) -> dict[str, object]:
    """The parameters of EVENT_CTE: one event, for a caller that writes it inside a
    statement of its own (in the same transaction as the change). The same columns as
    `record`; `data` must never hold secrets."""
    context = current_request.get()
    return {
        "tenant_id": tenant_id,
        "event_id": uuid.uuid4(),
        "event_actor": actor,
        "event_action": action,
        "event_target": target,
        "event_data": json.dumps(data or {}),
        "event_request_id": context.request_id if context else None,
        "event_client_ip": context.client_ip if context else None,
    }


# A CTE (`WITH` it into a statement) that adds one audit event; see event_params.
EVENT_CTE = (
    "audit_event AS (INSERT INTO audit_events "
    "(tenant_id, id, actor, action, target, data, request_id, client_ip) "
    "VALUES (:tenant_id, :event_id, :event_actor, :event_action, :event_target, "
    "CAST(:event_data AS jsonb), :event_request_id, :event_client_ip))"
)


def record_many(
    db: Session,
    *,
    tenant_id: uuid.UUID,
    actor: str,
    action: str,
    targets: list[str],
    data: dict[str, Any] | None = None,
) -> None:
    """One event per target in a single flush: for set-based changes to many rows."""
    record_each(
        db, tenant_id=tenant_id, actor=actor, action=action, events=[(t, data) for t in targets]
    )


def record_each(
    db: Session,
    *,
    tenant_id: uuid.UUID,
    actor: str,
    action: str,
    events: list[tuple[str, dict[str, Any] | None]],
) -> None:
    """`record_many` with data of its own for each target: (target, data) pairs."""
    context = current_request.get()
    db.add_all(
        AuditEvent(
            tenant_id=tenant_id,
            id=uuid.uuid4(),
            actor=actor,
            action=action,
            target=target,
            data=data or {},
            request_id=context.request_id if context else None,
            client_ip=context.client_ip if context else None,
        )
        for target, data in events
    )
    db.flush()


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Exact matches on actor, action and target; `since` inclusive, `until` exclusive."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_events(
    db: Session, tenant_id: uuid.UUID, filters: EventFilter, *, before: EventKey | None, limit: int
) -> Page[AuditEvent, EventKey]:
    """A page of the tenant's audit log, newest first by (at, id), after the key `before`."""
    query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
    for column, value in (
        (AuditEvent.actor, filters.actor),
        (AuditEvent.action, filters.action),
        (AuditEvent.target, filters.target),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.since is not None:
        query = query.where(AuditEvent.at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.at < filters.until)
    if before is not None:
        query = query.where(tuple_(AuditEvent.at, AuditEvent.id) < tuple_(*before))
    rows = list(
        db.scalars(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit + 1))
    )
    return page_of(rows, limit, lambda event: (event.at, event.id))
