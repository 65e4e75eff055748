import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from backend.api.pagination import PageOut
from backend.api.schemas.moments import Moment
from backend.api.schemas.text import Text
from backend.db.models import Job


class JobProgress(BaseModel):
    done: int
    total: int | None


class JobOut(BaseModel):
    id: uuid.UUID
    kind: str
    status: str
    progress: JobProgress
    requested_by: str
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> "JobOut":
        return cls(
            id=job.id,
            kind=job.kind,
            status=job.status.value,
            progress=JobProgress(done=job.progress_done, total=job.progress_total),
            requested_by=job.requested_by,
            result=job.result,
            error=job.error,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


class JobPage(PageOut[JobOut]):
    """A page of the tenant's jobs, newest first."""


class BulkDisableRequest(BaseModel):
    """Which users to disable (or offboard): listed ids, users idle since a time, or everyone."""

    user_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=100_000)
    last_login_before: Moment | None = None
    all_users: bool = False
    reason: Text = Field(default="bulk", min_length=1, max_length=200)
    # Offboard rather than only disable: end every session and revoke the service
    # accounts and API keys the users made, as POST /users/{id}/offboard does.
    offboard: bool = False

    @model_validator(mode="after")
    def _one_selection(self) -> "BulkDisableRequest":
        if self.all_users == (self.user_ids is not None or self.last_login_before is not None):
            raise ValueError("give user_ids and/or last_login_before, or all_users=true")
        return self


class DueOut(BaseModel):
    subject: str
    reason: str


class LifecyclePreview(BaseModel):
    """Per sweep, who it would act on now and why (at most `limit` each)."""

    at: datetime
    sweeps: dict[str, list[DueOut]]
