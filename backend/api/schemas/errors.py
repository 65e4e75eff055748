from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every error Tessera answers on purpose has this shape (RFC 6749 §5.2 style)."""

    error: str = Field(examples=["invalid_grant"])
    error_description: str = Field(examples=["invalid username or password"])
