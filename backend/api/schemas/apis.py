import uuid
from typing import Annotated

from pydantic import BaseModel, Field
from pydantic.config import JsonDict

from backend.api.schemas.text import Text
from backend.domain.apis import (
    IDENTIFIER_PATTERN,
    MAX_DESCRIPTION_LENGTH,
    MAX_IDENTIFIER_LENGTH,
    MAX_NAME_LENGTH,
    MAX_SCOPE_LENGTH,
    SCOPE_NAME_PATTERN,
)

ApiName = Annotated[Text, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
Description = Annotated[Text, Field(max_length=MAX_DESCRIPTION_LENGTH)]
ScopeName = Annotated[Text, Field(min_length=3, max_length=MAX_SCOPE_LENGTH)]
# The patterns are stated for clients and fuzzers, not enforced here: the service
# refuses a bad identifier or scope name with its own reason.
SCOPE_NAMES: JsonDict = {
    "propertyNames": {"minLength": 3, "maxLength": MAX_SCOPE_LENGTH, "pattern": SCOPE_NAME_PATTERN}
}
# Bounds the work one request can ask for.
MAX_SCOPES_PER_API = 200


class ApiCreate(BaseModel):
    identifier: Text = Field(
        max_length=MAX_IDENTIFIER_LENGTH,
        examples=["https://api.example.com/projects"],
        json_schema_extra={"pattern": IDENTIFIER_PATTERN},
    )
    name: ApiName
    description: Description = ""
    # `resource:action` -> what it grants.
    scopes: dict[ScopeName, Description] = Field(
        default_factory=dict,
        max_length=MAX_SCOPES_PER_API,
        examples=[{"projects:read": "Read projects"}],
        json_schema_extra=SCOPE_NAMES,
    )


class ApiUpdate(BaseModel):
    """Only the fields sent change; `scopes` replaces the set whole. The identifier is
    immutable."""

    name: ApiName | None = None
    description: Description | None = None
    scopes: dict[ScopeName, Description] | None = Field(
        default=None, max_length=MAX_SCOPES_PER_API, json_schema_extra=SCOPE_NAMES
    )


class ApiScopeOut(BaseModel):
    scope: str = Field(examples=["projects:read"])
    description: str


class ApiOut(BaseModel):
    id: uuid.UUID
    identifier: str
    name: str
    description: str
    # Tessera's own API: not editable, its scopes are the code catalogue.
    builtin: bool
    scopes: list[ApiScopeOut]
