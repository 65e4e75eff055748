"""The standings snapshot, as GET /standings answers it (the feed's events: docs)."""

import uuid
from typing import Literal

from pydantic import BaseModel, Field

from backend.security.standings_feed import CURSOR_PATTERN


class SubjectStandingOut(BaseModel):
    kind: Literal["user", "service_account"]
    subject: uuid.UUID = Field(description="The subject's id: the `sub` of its tokens")
    token_version: int = Field(description="Tokens carrying an older `ver` are refused")
    status: Literal["active", "disabled"]


class TenantStandingOut(BaseModel):
    tenant_id: uuid.UUID
    status: Literal["active", "suspended"]
    subjects: list[SubjectStandingOut] = Field(
        description="Only subjects whose standing is not a new subject's"
    )


class StandingsSnapshot(BaseModel):
    cursor: str = Field(
        pattern=CURSOR_PATTERN,
        description="Follow GET /standings/stream from here (as Last-Event-ID)",
        examples=["1764691200000-0"],
    )
    tenants: list[TenantStandingOut]
