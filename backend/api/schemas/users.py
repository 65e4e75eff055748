import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic.config import JsonDict

from backend.api.headers import Credential
from backend.api.pagination import PageOut
from backend.api.schemas.base import Out
from backend.api.schemas.text import SecretText, Text
from backend.db.models import User
from backend.domain.emails import EMAIL, MAX_EMAIL_LENGTH, is_email
from backend.domain.policy import (
    DEFAULT_MIN_PASSWORD_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH_FLOOR,
    NOT_ONE_CHARACTER_REPEATED,
)
from backend.services.users import is_deleted

# What _email accepts, for OpenAPI: the address, with any whitespace around it.
EMAIL_PATTERN = rf"^\s*{EMAIL.pattern}\s*$"


def _email(value: str) -> str:
    value = value.strip()
    if not is_email(value):
        raise ValueError("not a valid email address")
    return value


Email = Annotated[
    Text,
    Field(
        max_length=MAX_EMAIL_LENGTH,
        examples=["ann@example.com"],
        json_schema_extra={"pattern": EMAIL_PATTERN},
    ),
    AfterValidator(_email),
]
FullName = Annotated[Text, Field(max_length=200, examples=["Ann Example"])]

# A new password: the bounds every tenant's policy keeps, stated for clients and
# fuzzers. The policy itself (backend/domain/policy.py) enforces them and the tenant's
# own minimum, answering 422 with the reason, so they are not validated here.
NewPassword = Annotated[
    SecretText,
    Field(
        description=(
            "At least the tenant's minimum length (by default "
            f"{DEFAULT_MIN_PASSWORD_LENGTH}, never under {MIN_PASSWORD_LENGTH_FLOOR}) and at "
            f"most {MAX_PASSWORD_LENGTH} characters, not one character repeated, and not a "
            "well-known password"
        ),
        json_schema_extra={
            "minLength": MIN_PASSWORD_LENGTH_FLOOR,
            "maxLength": MAX_PASSWORD_LENGTH,
            "pattern": NOT_ONE_CHARACTER_REPEATED,
        },
    ),
]

# The rule of `password_or_invite`, stated in OpenAPI: with a password, no invitation;
# without one, `invite: true`. As if/then/else rather than anyOf, which client
# generators would turn into two models, each without the other fields.
PASSWORD_OR_INVITE: JsonDict = {
    "if": {"properties": {"password": {"type": "string"}}, "required": ["password"]},
    "then": {"properties": {"invite": {"const": False}}},
    "else": {"properties": {"invite": {"const": True}}, "required": ["invite"]},
}


def password_or_invite(invite: bool, info: ValidationInfo) -> bool:
    """The `invite` field's validator: exactly one of a password and an invitation."""
    if invite == (info.data.get("password") is not None):
        raise ValueError("give either a password or invite: true, not both")
    return invite


class UserCreate(BaseModel):
    """Give a password, or `invite: true` for an invitation token instead."""

    model_config = ConfigDict(json_schema_extra=PASSWORD_OR_INVITE)

    email: Email
    full_name: FullName = ""
    password: NewPassword | None = None
    invite: bool = Field(default=False, validate_default=True)

    _password_or_invite = field_validator("invite")(password_or_invite)


class UserUpdate(BaseModel):
    """Fields left out stay as they are."""

    email: Email | None = None
    full_name: FullName | None = None


class UserDisable(BaseModel):
    reason: Text | None = Field(default=None, min_length=1, max_length=200)


class UserOut(Out):
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

    @classmethod
    def of(cls, user: User) -> Self:
        return cls._read(
            user,
            status=user.status.value,
            password_set=user.password_hash is not None,
            deleted=is_deleted(user),
        )


class InvitationOut(BaseModel):
    """The invitation token, shown this once; pass it on to the user."""

    token: Credential
    expires_at: datetime


class UserCreated(UserOut):
    invitation: InvitationOut | None


class UserPage(PageOut[UserOut]):
    """A page of the tenant's users, by email."""


class InvitationAccept(BaseModel):
    token: Text = Field(max_length=200)
    password: NewPassword
