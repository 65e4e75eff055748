import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backend.api.pagination import PageOut
from backend.api.schemas.base import Out
from backend.api.schemas.text import Text
from backend.api.schemas.users import (
    PASSWORD_OR_INVITE,
    Email,
    InvitationOut,
    NewPassword,
    password_or_invite,
)
from backend.domain.tenants import SLUG_PATTERN

TenantName = Annotated[Text, Field(min_length=1, max_length=200, examples=["Acme Inc"])]


class OwnerCreate(BaseModel):
    """The tenant's first owner: give a password, or `invite: true` for an invitation."""

    model_config = ConfigDict(json_schema_extra=PASSWORD_OR_INVITE)

    email: Email
    password: NewPassword | None = None
    invite: bool = Field(default=False, validate_default=True)

    _password_or_invite = field_validator("invite")(password_or_invite)


class TenantCreate(BaseModel):
    # Checked by the service, so a bad slug is answered with the rule (422).
    slug: Text = Field(
        max_length=200,
        examples=["acme"],
        description="Used at login (`slug/email`); 2-63 of a-z, 0-9 and '-'. Never changes.",
        json_schema_extra={"pattern": SLUG_PATTERN},
    )
    name: TenantName
    owner: OwnerCreate


class TenantUpdate(BaseModel):
    """Only the display name can change; the slug is immutable."""

    name: TenantName

    @model_validator(mode="before")
    @classmethod
    def _slug_is_immutable(cls, data: Any) -> Any:
        if isinstance(data, dict) and "slug" in data:
            raise ValueError(
                "slug cannot be changed: logins and refresh tokens name the tenant by it; "
                "create a new tenant instead"
            )
        return data


class TenantOut(Out):
    id: uuid.UUID
    slug: str
    name: str
    status: str
    created_at: datetime


class OwnerCreated(BaseModel):
    id: uuid.UUID
    email: str
    # The invitation token, shown this once, when the owner was invited.
    invitation: InvitationOut | None


class TenantCreated(TenantOut):
    owner: OwnerCreated


class TenantPage(PageOut[TenantOut]):
    """A page of tenants, by slug."""
