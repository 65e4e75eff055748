"""The principal's own sessions (each a refresh token family)."""

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Response

from backend.api.deps import DbSession, Me
from backend.api.schemas.errors import GUARDED_RESPONSES, NOT_FOUND
from backend.api.schemas.sessions import SessionOut
from backend.services import sessions

router = APIRouter(tags=["me"])


@router.get("/me/sessions", response_model=list[SessionOut], responses=GUARDED_RESPONSES)
def list_sessions(principal: Me, db: DbSession) -> list[SessionOut]:
    """Your sessions that can still be refreshed, newest first."""
    families = sessions.live_sessions(
        db, principal.tenant_id, principal.require_user(), datetime.now(UTC)
    )
    return [SessionOut.of(f) for f in families]


@router.delete(
    "/me/sessions/{id}",
    status_code=204,
    responses={**GUARDED_RESPONSES, **NOT_FOUND},
)
def end_session(id: uuid.UUID, principal: Me, db: DbSession) -> Response:
    """End one of your sessions: its refresh token stops working at once."""
    sessions.end_session(db, principal.tenant_id, principal.require_user(), id, datetime.now(UTC))
    return Response(status_code=204)
