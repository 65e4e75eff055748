import uuid
from datetime import datetime
from typing import Self

from pydantic import BaseModel

from backend.api.schemas.base import Out
from backend.api.schemas.moments import Moment
from backend.services.grants import GrantView


class GrantRequest(BaseModel):
    # When the grant lapses (in the future, at most 10 years ahead); none means never.
    expires_at: Moment | None = None


class GrantOut(Out):
    role_id: uuid.UUID
    role_name: str
    builtin: bool
    # The user who granted it; null for grants made by the system or a service account.
    granted_by: uuid.UUID | None
    granted_at: datetime
    expires_at: datetime | None
    # False once expires_at has passed: the grant gives nothing any more.
    active: bool

    @classmethod
    def of(cls, view: GrantView) -> Self:
        role = view.role
        return cls._read(view.grant, role_name=role.name, builtin=role.builtin, active=view.active)
