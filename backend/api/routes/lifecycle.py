"""Lifecycle jobs: offboarding, bulk disable, their progress, and the sweeps' preview."""

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import AppEffects, DbSession, JobsRead, UsersDisable, UsersRead
from backend.api.pagination import Cursor, Keyset, Limit
from backend.api.schemas.errors import BAD_CURSOR, CONFLICT, GUARDED_RESPONSES, NOT_FOUND
from backend.api.schemas.jobs import (
    BulkDisableRequest,
    DueOut,
    JobOut,
    JobPage,
    LifecyclePreview,
)
from backend.db.models import User
from backend.domain.errors import NotFoundError
from backend.domain.jobs import JobKind
from backend.services import jobs, offboarding, owners, sweeps

router = APIRouter(tags=["lifecycle"])

JOBS = Keyset("jobs", (("created_at", datetime), ("id", uuid.UUID)))


@router.post(
    "/users/{id}/offboard",
    status_code=202,
    response_model=JobOut,
    responses={**GUARDED_RESPONSES, **NOT_FOUND, **CONFLICT},
)
def offboard_user(
    id: uuid.UUID, principal: UsersDisable, db: DbSession, effects: AppEffects
) -> JobOut:
    """Disable the user and revoke every session, service account and API key they made.

    Runs on the worker; poll `GET /jobs/{id}`.
    """
    if db.get(User, (principal.tenant_id, id)) is None:
        raise NotFoundError("user")
    owners.require_another_owner(db, principal.tenant_id, id)
    job = jobs.enqueue(db, effects, principal, JobKind.OFFBOARD, {"user_id": str(id)}, total=1)
    return JobOut.of(job)


@router.post(
    "/users/bulk-disable",
    status_code=202,
    response_model=JobOut,
    responses=GUARDED_RESPONSES,
)
def bulk_disable(
    body: BulkDisableRequest, principal: UsersDisable, db: DbSession, effects: AppEffects
) -> JobOut:
    """Disable many users, up to the whole tenant; owners are skipped and counted.

    With `offboard: true`, offboard them instead: their sessions end and the service
    accounts and API keys they made are revoked too (already disabled users included).
    Runs on the worker in batches; poll `GET /jobs/{id}`.
    """
    params: dict[str, object] = {"reason": body.reason}
    if body.user_ids is not None:
        params["user_ids"] = sorted(str(u) for u in set(body.user_ids))
    if body.last_login_before is not None:
        params["last_login_before"] = body.last_login_before.isoformat()
    total = offboarding.count_bulk(db, principal.tenant_id, params, offboard=body.offboard)
    kind = JobKind.BULK_OFFBOARD if body.offboard else JobKind.BULK_DISABLE
    job = jobs.enqueue(db, effects, principal, kind, params, total=total)
    return JobOut.of(job)


@router.get(
    "/jobs",
    response_model=JobPage,
    responses={**GUARDED_RESPONSES, **BAD_CURSOR},
)
def list_jobs(
    principal: JobsRead, db: DbSession, limit: Limit = 50, cursor: Cursor = None
) -> JobPage:
    """The tenant's jobs, newest first; pass `next_cursor` back for more."""
    page = jobs.list_jobs(db, principal.tenant_id, limit=limit, after=JOBS.key(cursor))
    return JobPage(items=[JobOut.of(j) for j in page.items], next_cursor=JOBS.cursor(page.next_key))


@router.get("/jobs/{id}", response_model=JobOut, responses={**GUARDED_RESPONSES, **NOT_FOUND})
def get_job(id: uuid.UUID, principal: JobsRead, db: DbSession) -> JobOut:
    """A job's status, progress (done of total) and, once finished, result or error."""
    return JobOut.of(jobs.get(db, principal.tenant_id, id))


@router.get("/lifecycle/preview", response_model=LifecyclePreview, responses=GUARDED_RESPONSES)
def preview(
    principal: UsersRead,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> LifecyclePreview:
    """Who the scheduled sweeps would disable or cut off now, and why.

    Uses the sweeps' own queries, so the preview and the sweep cannot disagree.
    """
    now = datetime.now(UTC)
    due = sweeps.preview(db, principal.tenant_id, now, limit=limit)
    return LifecyclePreview(
        at=now,
        sweeps={
            name: [DueOut(subject=d.subject, reason=d.reason) for d in rows]
            for name, rows in due.items()
        },
    )
