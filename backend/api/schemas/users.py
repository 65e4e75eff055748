import re
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

# A pragmatic check, not RFC 5322: one @, a dotted domain, no spaces or control
# characters, a local part of at most 64. Deliverability is the invitation's test.
_EMAIL = re.compile(
    r"[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f.][^@\s\x00-\x1f\x7f]*\.[^@\s\x00-\x1f\x7f.]+"
)


def _email(value: str) -> str:
    value = value.strip()
    if not _EMAIL.fullmatch(value):
        raise ValueError("not a valid email address")
    return value


Email = Annotated[str, Field(max_length=320, examples=["ann@example.com"]), AfterValidator(_email)]
FullName = Annotated[str, Field(max_length=200, examples=["Ann Example"])]


class UserCreate(BaseModel):
    """Give a password, or `invite: true` for an invitation token instead."""

    email: Email
    full_name: FullName = ""
    password: SecretStr | None = None
    invite: bool = Field(default=False, validate_default=True)

    @field_validator("invite")
    @classmethod
    def _password_or_invite(cls, invite: bool, info: ValidationInfo) -> bool:
        if invite == (info.data.get("password") is not None):
            raise ValueError("give either a password or invite: true, not both")
        return invite


class UserUpdate(BaseModel):
    """Fields left out stay as they are."""

    email: Email | None = None
    full_name: FullName | None = None


class UserDisable(BaseModel):
    reason: str | None = Field(default=None, min_length=1, max_length=200)


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str
    status: str
    disabled_at: datetime | None
    disabled_reason: str | None
    # Password checks are refused until then: a pause or the lock (docs/security.md).
    locked_until: datetime | None
    # Wrong passwords in a row since the last success, unlock or lock that ran out.
    failed_logins: int
    last_login_at: datetime | None
    created_at: datetime
    # False until an invited user accepts their invitation.
    password_set: bool
    # Soft-deleted: disabled for good, personal data erased.
    deleted: bool


class InvitationOut(BaseModel):
    """The invitation token, shown this once; pass it on to the user."""

    token: str
    expires_at: datetime


class UserCreated(UserOut):
    invitation: InvitationOut | None


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None


class InvitationAccept(BaseModel):
    token: str = Field(max_length=200)
    password: SecretStr
