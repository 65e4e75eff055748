import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field

from backend.api.headers import Credential
from backend.api.pagination import PageOut
from backend.api.schemas.base import Out
from backend.api.schemas.text import Text
from backend.domain.clients import (
    CLIENT_ID_PATTERN,
    MAX_URI_LENGTH,
    MAX_URIS,
    ClientType,
    GrantType,
)
from backend.services.clients import CreatedClient

# The bounds here are for clients and fuzzers; the service checks every rule itself
# (domain/clients.py) and answers 422 with the field and the reason.
Uri = Annotated[Text, Field(max_length=MAX_URI_LENGTH)]
Uris = Annotated[list[Uri], Field(max_length=MAX_URIS)]
ClientName = Annotated[Text, Field(min_length=1, max_length=200, examples=["Acme web app"])]
Resource = Annotated[Text, Field(max_length=200)]


class ClientFields(BaseModel):
    """What may change after registration (PATCH sends any of these)."""

    model_config = ConfigDict(extra="forbid")

    redirect_uris: Uris = Field(
        default_factory=list,
        examples=[["https://app.example.com/callback"]],
        description="Exact URIs /authorize may send codes to: absolute, no fragment; "
        "https, http only on 127.0.0.1 or localhost, or a private-use scheme",
    )
    post_logout_redirect_uris: Uris = Field(default_factory=list)
    allowed_origins: Uris = Field(
        default_factory=list,
        examples=[["https://app.example.com"]],
        description="Origins whose browsers may call /token, /revoke, /userinfo (CORS)",
    )
    grant_types: list[GrantType] = Field(
        default_factory=lambda: [GrantType.AUTHORIZATION_CODE], max_length=3
    )
    resources: Annotated[list[Resource], Field(max_length=50)] = Field(
        default_factory=list, description="Identifiers of the APIs it may ask tokens for"
    )


class ClientCreate(ClientFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "client_id": "acme-web",
                    "name": "Acme web app",
                    "type": "public",
                    "redirect_uris": ["https://app.example.com/callback"],
                    "allowed_origins": ["https://app.example.com"],
                    "grant_types": ["authorization_code", "refresh_token"],
                }
            ]
        },
    )

    client_id: Text = Field(
        max_length=64,
        examples=["acme-web"],
        description="What OAuth requests name the client by; never changes",
        json_schema_extra={"pattern": CLIENT_ID_PATTERN},
    )
    name: ClientName
    type: ClientType = Field(
        description="public (SPA, native app: PKCE only) or confidential (has a secret)"
    )


class ClientUpdate(BaseModel):
    """Any of the fields; client_id and type never change (422 if sent)."""

    model_config = ConfigDict(extra="forbid")

    name: ClientName | None = None
    redirect_uris: Uris | None = None
    post_logout_redirect_uris: Uris | None = None
    allowed_origins: Uris | None = None
    grant_types: Annotated[list[GrantType], Field(max_length=3)] | None = None
    resources: Annotated[list[Resource], Field(max_length=50)] | None = None


class ClientOut(Out):
    id: uuid.UUID
    client_id: str
    name: str
    type: ClientType
    # First characters of a confidential client's secret, to recognise a leaked one.
    secret_prefix: str | None
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    allowed_origins: list[str]
    grant_types: list[GrantType]
    resources: list[str]
    created_at: datetime
    updated_at: datetime


class ClientCreated(ClientOut):
    """Returned once, at registration: the only time a confidential client's secret is shown."""

    client_secret: Credential | None

    @classmethod
    def of(cls, created: CreatedClient) -> Self:
        return cls._read(created.client, client_secret=created.secret)


class ClientPage(PageOut[ClientOut]):
    """A page of clients, by client_id."""
