import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, Field, StringConstraints

from backend.api.schemas.base import Out
from backend.api.schemas.text import STORABLE, Text
from backend.domain.apis import MAX_SCOPE_LENGTH
from backend.domain.roles import render_chain
from backend.domain.scopes import SCOPE_PATTERN
from backend.services.roles import RoleView, ScopeExplanation

RoleName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), STORABLE
]
MAX_INCLUDES = 50
# Any registered scope: the catalogue's or a product API's (422 naming any other).
ScopeName = Annotated[str, Field(max_length=MAX_SCOPE_LENGTH, pattern=SCOPE_PATTERN)]
MAX_SCOPES = 200


class RoleCreate(BaseModel):
    name: RoleName
    description: Text = Field(default="", max_length=500)
    scopes: list[ScopeName] = Field(default_factory=list, max_length=MAX_SCOPES)
    # Ids of roles of the same tenant whose scopes this role also grants, transitively.
    includes: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_INCLUDES)


class RoleUpdate(BaseModel):
    """Only the fields sent change; `scopes` and `includes` replace the lists whole."""

    name: RoleName | None = None
    description: Text | None = Field(default=None, max_length=500)
    scopes: list[ScopeName] | None = Field(default=None, max_length=MAX_SCOPES)
    includes: list[uuid.UUID] | None = Field(default=None, max_length=MAX_INCLUDES)


class RoleOut(Out):
    id: uuid.UUID
    name: str
    description: str
    builtin: bool
    scopes: list[str]
    includes: list[uuid.UUID]
    created_at: datetime

    @classmethod
    def of(cls, view: RoleView) -> Self:
        return cls._read(view.role, scopes=view.scopes, includes=view.includes)


class ScopeChainOut(BaseModel):
    """One effective scope and why it is held."""

    scope: str = Field(examples=["users:write"])
    # Each chain starts at a role granted to the user and follows inclusion down to the
    # role that carries the scope itself: ["owner", "admin"] = owner includes admin.
    chains: list[list[str]] = Field(examples=[[["owner", "admin"]]])
    # The same chains as text, scope first and the granted role last.
    explained: list[str] = Field(examples=[["users:write <- admin <- owner"]])

    @classmethod
    def of(cls, explanation: ScopeExplanation) -> "ScopeChainOut":
        return cls(
            scope=explanation.scope,
            chains=[list(chain) for chain in explanation.chains],
            explained=[render_chain(explanation.scope, chain) for chain in explanation.chains],
        )


class EffectiveScopesOut(BaseModel):
    user_id: uuid.UUID
    scopes: list[ScopeChainOut]
