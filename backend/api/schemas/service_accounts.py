import uuid
from datetime import datetime
from typing import Self

from pydantic import BaseModel, Field

from backend.api.headers import Credential
from backend.api.schemas.base import Out
from backend.api.schemas.text import Text
from backend.services.service_accounts import AccountView


class ServiceAccountCreate(BaseModel):
    name: Text = Field(min_length=1, max_length=100)
    description: Text = Field(default="", max_length=500)
    role_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)


class ServiceAccountOut(Out):
    id: uuid.UUID
    name: str
    description: str
    client_id: str
    secret_prefix: str
    role_ids: list[uuid.UUID]
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, view: AccountView) -> Self:
        return cls._read(view.account, client_id=view.client_id, role_ids=view.role_ids)


class ServiceAccountCreated(ServiceAccountOut):
    """Returned once, at creation: the only time the secret is shown."""

    client_secret: Credential
