"""The standings feed for resource servers: a snapshot, then every change as it commits.

Platform principals holding `standings:read` only (the tessera_fastapi kit's service
account); anyone else gets 403 and learns nothing about any tenant.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from backend.api.deps import AppRuntime, DbSession, StandingsRead
from backend.api.schemas.errors import GUARDED_RESPONSES
from backend.api.schemas.standings import (
    StandingsSnapshot,
    SubjectStandingOut,
    TenantStandingOut,
)
from backend.security.standings_feed import (
    CURSOR_MAX_LENGTH,
    CURSOR_PATTERN,
    CursorGoneError,
    follow,
)
from backend.services import standings, tenants

router = APIRouter(prefix="/standings", tags=["standings (platform)"])

# Not cached by anything between Tessera and the follower, nor buffered by a proxy.
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


@router.get("", response_model=StandingsSnapshot, responses=GUARDED_RESPONSES)
def get_standings(
    principal: StandingsRead, db: DbSession, runtime: AppRuntime
) -> StandingsSnapshot:
    """Every tenant's status and each subject whose standing is not a new subject's
    (disabled, revoked, or a token version past the first), with the feed cursor to
    follow GET /standings/stream from."""
    taken = standings.snapshot(db, principal, runtime.effects.standings)
    by_tenant = {group.tenant_id: group.subjects for group in taken.subjects}
    return StandingsSnapshot(
        cursor=taken.cursor,
        tenants=[
            TenantStandingOut(
                tenant_id=tenant.tenant_id,
                status=tenant.status,
                subjects=[
                    SubjectStandingOut.model_validate(subject, from_attributes=True)
                    for subject in by_tenant.get(tenant.tenant_id, [])
                ],
            )
            for tenant in taken.tenants
        ],
    )


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        **GUARDED_RESPONSES,
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "Server-Sent Events",
        },
    },
)
def stream_standings(
    principal: StandingsRead,
    db: DbSession,
    runtime: AppRuntime,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            pattern=CURSOR_PATTERN,
            max_length=CURSOR_MAX_LENGTH,
            description="Resume after this event (a snapshot's cursor, or an event's id)",
        ),
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events: one `standing` event per committed change, its id the cursor
    to resume from; a comment line as heartbeat when idle; a `reset` event when the
    cursor is older than what Tessera keeps (take a new snapshot, then follow again).
    Without Last-Event-ID, the changes from now on."""
    tenants.enter_as_operator(db, principal)
    feed = runtime.effects.standings
    after = last_event_id or feed.cursor()
    settings = runtime.settings
    return StreamingResponse(
        _events(settings.redis_url, after, settings.standings_heartbeat_seconds),
        media_type="text/event-stream",
        headers=STREAM_HEADERS,
    )


async def _events(redis_url: str, after: str, heartbeat: float) -> AsyncIterator[str]:
    # The first comment comes once the changes after the cursor are sent (at once if
    # none): a follower that counts itself live from it has applied all it missed.
    following = False
    try:
        async for change in follow(redis_url, after, block_seconds=heartbeat):
            if change is None:
                yield ": heartbeat\n\n" if following else ": following\n\n"
                following = True
                continue
            event_id, data = change
            yield f"id: {event_id}\nevent: standing\ndata: {data}\n\n"
    except CursorGoneError:
        yield "event: reset\ndata: {}\n\n"
