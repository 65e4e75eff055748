"""Dry runs: what a role change would do, per user and service account, changing nothing."""

import uuid
from typing import Annotated, Literal

from fastapi import Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from backend.services.role_impact import Impact

DryRun = Annotated[
    bool,
    Query(
        description="Change nothing; answer 200 with the impact the change would have "
        "(checked exactly as the real change: 403, 404, 409 alike)"
    ),
]


class UserImpactOut(BaseModel):
    user_id: uuid.UUID
    email: str
    gained: list[str] = Field(examples=[["audit:read"]])
    lost: list[str] = Field(examples=[["users:write"]])
    # Kept, but lapsing sooner than before (a time-bound grant's expiry set or brought
    # forward): the access tokens issued for the old lapse are cut off too.
    lapses_sooner: list[str] = Field(examples=[[]])
    # Live refresh sessions whose access tokens would stop working: a user who loses a
    # scope, or keeps one that lapses sooner, has their token version bumped. 0 otherwise.
    sessions_cut: int


class ServiceAccountImpactOut(BaseModel):
    service_account_id: uuid.UUID
    name: str
    gained: list[str]
    # A service account that loses a scope has its access tokens cut off too.
    lost: list[str]


class DryRunOut(BaseModel):
    """The answer to `?dry_run=true`: nothing was changed."""

    dry_run: Literal[True] = True
    impact: list[UserImpactOut]
    service_accounts: list[ServiceAccountImpactOut]

    @classmethod
    def of(cls, impact: Impact) -> "DryRunOut":
        return cls(
            impact=[
                UserImpactOut(
                    user_id=u.user_id,
                    email=u.email,
                    gained=u.gained,
                    lost=u.lost,
                    lapses_sooner=u.lapses_sooner,
                    sessions_cut=u.sessions_cut,
                )
                for u in impact.users
            ],
            service_accounts=[
                ServiceAccountImpactOut(
                    service_account_id=a.service_account_id,
                    name=a.name,
                    gained=a.gained,
                    lost=a.lost,
                )
                for a in impact.service_accounts
            ],
        )


DRY_RUN_RESPONSE: dict[int | str, dict[str, object]] = {
    200: {"model": DryRunOut, "description": "`dry_run=true`: the impact; nothing changed"}
}


def dry_run_response(impact: Impact) -> JSONResponse:
    """200 with the impact, bypassing the route's usual model and status."""
    return JSONResponse(DryRunOut.of(impact).model_dump(mode="json"))
