from typing import Literal

from pydantic import BaseModel


class TokenResponse(BaseModel):
    """RFC 6749 §5.1 successful token response."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a token type, not a secret)
    expires_in: int
    scope: str
    # Password and refresh grants only; rotate on every use.
    refresh_token: str | None = None
