"""The tenant's audit log (scope audit:read). Read-only: no route changes it."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import AuditRead, DbSession
from backend.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from backend.api.schemas.audit import AuditEventOut, AuditPage
from backend.api.schemas.errors import GUARDED_RESPONSES, ErrorBody
from backend.api.schemas.moments import Moment
from backend.api.schemas.text import Text
from backend.domain.errors import InvalidRequestError
from backend.domain.moments import parse_moment
from backend.services import audit
from backend.services.audit import EventFilter, EventKey

router = APIRouter(prefix="/audit-events", tags=["audit"])

Match = Annotated[Text | None, Query(max_length=120)]


@router.get(
    "",
    response_model=AuditPage,
    responses={
        **GUARDED_RESPONSES,
        400: {"model": ErrorBody, "description": "The cursor is not one this listing issued"},
    },
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
        before=_event_key(cursor),
        limit=limit,
    )
    next_cursor = (
        encode_cursor([page.next_key[0].isoformat(), str(page.next_key[1])])
        if page.next_key
        else None
    )
    return AuditPage(
        items=[
            AuditEventOut(
                id=e.id,
                at=e.at,
                actor=e.actor,
                action=e.action,
                target=e.target,
                data=e.data,
                request_id=e.request_id,
                client_ip=e.client_ip,
            )
            for e in page.items
        ],
        next_cursor=next_cursor,
    )


def _event_key(cursor: str | None) -> EventKey | None:
    key = decode_cursor(cursor)
    if key is None:
        return None
    try:
        at, event_id = key
        if not (isinstance(at, str) and isinstance(event_id, str)):
            raise TypeError(key)
        return parse_moment(at), uuid.UUID(event_id)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError("cursor is not valid") from exc
