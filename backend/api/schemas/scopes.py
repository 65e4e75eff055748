from typing import Literal

from pydantic import BaseModel, Field


class ScopeOut(BaseModel):
    scope: str = Field(examples=["users:write"])
    description: str
    # "platform" scopes exist only in the platform tenant's roles; "product" scopes
    # belong to a product API (see docs/product-apis.md).
    kind: Literal["tenant", "platform", "product"]
    # Whether a role of the principal's tenant may carry it.
    grantable: bool


class ApiScopesOut(BaseModel):
    """One API and its scopes."""

    identifier: str = Field(examples=["https://api.example.com/projects"])
    name: str
    # Tessera's own API: its scopes are the code catalogue.
    builtin: bool
    scopes: list[ScopeOut]
