"""The audit log: written in the same transaction as the change it records."""

import uuid
from typing import Any

from sqlalchemy.orm import Session

from backend.db.models import AuditEvent
from backend.request_context import current_request

SYSTEM = "system"


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
    context = current_request.get()
    db.add(
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
    )
    db.flush()
