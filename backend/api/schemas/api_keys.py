import uuid
from datetime import datetime
from typing import Self

from pydantic import BaseModel, Field

from backend.api.headers import Credential
from backend.api.schemas.base import Out
from backend.api.schemas.moments import Moment
from backend.api.schemas.text import Text
from backend.db.models import ApiKey
from backend.domain.scopes import Scope


class ApiKeyCreate(BaseModel):
    name: Text = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))
    # In the future, at most 10 years ahead; none means the key never expires.
    expires_at: Moment | None = None


class ApiKeyOut(Out):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_by: uuid.UUID
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> Self:
        return cls._read(key, scopes=key.scope.split())


class ApiKeyCreated(ApiKeyOut):
    """Returned once, at creation: the only time the key is shown."""

    key: Credential
