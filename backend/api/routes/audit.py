"""The tenant's audit log (scope audit:read). Read-only: no route changes it."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import AuditRead, DbSession
from backend.api.pagination import Cursor, Keyset, Limit
from backend.api.schemas.audit import AuditEventOut, AuditPage
from backend.api.schemas.errors import BAD_CURSOR, GUARDED_RESPONSES
from backend.api.schemas.moments import Moment
from backend.api.schemas.text import Text
from backend.services import audit
from backend.services.audit import EventFilter

router = APIRouter(prefix="/audit-events", tags=["audit"])

Match = Annotated[Text | None, Query(max_length=120)]

EVENTS = Keyset("audit-events", (("at", datetime), ("id", uuid.UUID)))


@router.get(
    "",
    response_model=AuditPage,
    responses={**GUARDED_RESPONSES, **BAD_CURSOR},
)
def list_audit_events(
    principal: AuditRead,
    db: DbSession,
    actor: Match = None,
    action: Match = None,
    target: Match = None,
    since: Moment | None = None,
    until: Moment | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AuditPage:
    """Who did what to what, newest first. `actor`, `action` and `target` match exactly
    (e.g. `target=user:<id>`); `since` is inclusive, `until` exclusive (RFC 3339 with a
    time zone; a `+` in the query is `%2B`). Pass `next_cursor` back for the next page."""
    page = audit.list_events(
        db,
        principal.tenant_id,
        EventFilter(actor=actor, action=action, target=target, since=since, until=until),
        before=EVENTS.key(cursor),
        limit=limit,
    )
    return AuditPage(
        items=[AuditEventOut.of(e) for e in page.items],
        next_cursor=EVENTS.cursor(page.next_key),
    )
