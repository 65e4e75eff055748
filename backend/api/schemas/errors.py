from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every error Tessera answers on purpose has this shape (RFC 6749 §5.2 style)."""

    error: str = Field(examples=["invalid_grant"])
    error_description: str = Field(examples=["invalid username or password"])


# What every guarded route may answer besides its own result, for `responses=`.
GUARDED_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing, invalid, expired or revoked token"},
    403: {"model": ErrorBody, "description": "The token lacks a required scope"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}
FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "Missing scope, or an escalation refused"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": ErrorBody}}
BAD_CURSOR: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The cursor is not one this listing issued"}
}
