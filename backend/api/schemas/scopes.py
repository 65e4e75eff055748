from typing import Literal

from pydantic import BaseModel, Field


class ScopeOut(BaseModel):
    scope: str = Field(examples=["users:write"])
    description: str
    # "platform" scopes exist only in the platform tenant's roles.
    kind: Literal["tenant", "platform"]
    # Whether a role of the principal's tenant may carry it.
    grantable: bool
