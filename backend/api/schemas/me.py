import uuid

from pydantic import BaseModel


class TenantSummary(BaseModel):
    id: uuid.UUID
    slug: str
    name: str


class MeResponse(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str
    status: str
    tenant: TenantSummary
    roles: list[str]
    scopes: list[str]
    token_scopes: list[str]
