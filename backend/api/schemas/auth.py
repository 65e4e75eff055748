from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, WithJsonSchema
from pydantic.config import JsonDict

from backend.domain.scopes import SCOPE_LIST_PATTERN
from backend.domain.tenants import SLUG_PATTERN

GRANT_TYPES = ("password", "refresh_token", "client_credentials")
TOKEN_TYPE_HINTS = ("refresh_token", "access_token")
# The fields each grant needs besides grant_type (client_credentials: HTTP Basic).
_GRANT_FIELDS = {"password": ("username", "password"), "refresh_token": ("refresh_token",)}
# What the route checks, stated for clients and fuzzers: a grant_type, and its fields.
_TOKEN_GRAMMAR: JsonDict = {
    "required": ["grant_type"],
    "allOf": [
        {
            "if": {"properties": {"grant_type": {"const": grant}}, "required": ["grant_type"]},
            "then": {"required": [*fields]},
        }
        for grant, fields in _GRANT_FIELDS.items()
    ],
}


def _string(**rule: Any) -> WithJsonSchema:
    """A form field as OpenAPI states it: the string the route accepts.

    Every field is optional to FastAPI and checked by the route, so that a missing or
    bad one is answered as RFC 6749 §5.2 and RFC 7009 ask (400 `invalid_request`,
    `unsupported_grant_type`, `invalid_scope`), not with the framework's 422. The
    document still states what a request needs, in `required` and per grant.
    """
    return WithJsonSchema({"type": "string", **rule})


# The route takes an empty field for a missing one (400), so a value has a character.
Text = Annotated[str | None, _string(minLength=1)]


class TokenRequest(BaseModel):
    """RFC 6749 §4.3, §6 and §4.4: the form of POST /token."""

    model_config = ConfigDict(json_schema_extra=_TOKEN_GRAMMAR)

    grant_type: Annotated[str | None, _string(enum=list(GRANT_TYPES))] = None
    username: Annotated[
        str | None,
        _string(minLength=1, description="`tenant-slug/email`, or the email with `tenant`"),
    ] = None
    password: Annotated[str | None, _string(minLength=1, format="password")] = None
    scope: Annotated[
        str | None,
        _string(
            pattern=SCOPE_LIST_PATTERN,
            description="Space-separated scopes of the catalogue; none asks for all of yours",
        ),
    ] = None
    tenant: Annotated[
        str | None,
        _string(pattern=SLUG_PATTERN, description="Needed unless the username names it"),
    ] = None
    refresh_token: Text = None
    client_id: Annotated[
        str | None,
        _string(
            minLength=1,
            description="The registered client (application) asking; optional for the "
            "password grant, which a client may not be allowed (unauthorized_client)",
        ),
    ] = None
    client_secret: Annotated[
        str | None,
        _string(minLength=1, format="password", description="A confidential client's secret"),
    ] = None


class RevocationRequest(BaseModel):
    """RFC 7009 §2.1: the form of POST /revoke."""

    model_config = ConfigDict(json_schema_extra={"required": ["token"]})

    token: Text = None
    token_type_hint: Annotated[str | None, _string(enum=list(TOKEN_TYPE_HINTS))] = None


class TokenResponse(BaseModel):
    """RFC 6749 §5.1 successful token response."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a token type, not a secret)
    expires_in: int
    scope: str
    # Password and refresh grants only; rotate on every use.
    refresh_token: str | None = None
