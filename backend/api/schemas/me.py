import uuid

from pydantic import BaseModel, Field

from backend.api.schemas.roles import ScopeChainOut
from backend.api.schemas.text import SecretText, Text
from backend.api.schemas.users import NewPassword
from backend.domain.policy import MAX_PASSWORD_LENGTH


class TenantSummary(BaseModel):
    id: uuid.UUID
    slug: str
    name: str


class MeResponse(BaseModel):
    id: uuid.UUID
    email: str
    # Whether you followed a link mailed to `email` (a verification, an invitation, a
    # password reset) since it was last set.
    email_verified: bool
    full_name: str
    status: str
    tenant: TenantSummary
    roles: list[str]
    scopes: list[str]
    token_scopes: list[str]
    # Why you hold each of `scopes`: the chains of roles that grant it.
    scope_chains: list[ScopeChainOut]


class PasswordChange(BaseModel):
    current_password: SecretText = Field(max_length=MAX_PASSWORD_LENGTH)
    new_password: NewPassword
    # A refresh token of yours: its session survives, so its client can refresh into
    # a new access token at once. Every other session ends.
    refresh_token: Text | None = Field(default=None, max_length=200)
