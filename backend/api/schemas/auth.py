from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.config import JsonDict

from backend.api.headers import Credential
from backend.api.schemas.text import STORABLE
from backend.domain.clients import MAX_URI_LENGTH
from backend.domain.passkeys import MAX_CREDENTIAL_JSON
from backend.domain.policy import MAX_PASSWORD_LENGTH
from backend.domain.scopes import TOKEN_SCOPE_PATTERN
from backend.domain.tenants import SLUG_PATTERN

MFA_GRANT = "urn:tessera:params:oauth:grant-type:mfa"
GRANT_TYPES = ("password", "refresh_token", "client_credentials", "authorization_code", MFA_GRANT)
TOKEN_TYPE_HINTS = ("refresh_token", "access_token")
# The fields each grant needs besides grant_type (client_credentials: HTTP Basic).
_GRANT_FIELDS = {
    "password": ("username", "password"),
    "refresh_token": ("refresh_token",),
    MFA_GRANT: ("mfa_token",),
    "authorization_code": ("code", "redirect_uri", "code_verifier"),
}
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


def _string(max_length: int, **rule: Any) -> tuple[Any, ...]:
    """A form field: text of at most `max_length`, and the schema OpenAPI states for it.

    Every field is optional to FastAPI and checked by the route, so that a missing or
    bad one is answered as RFC 6749 §5.2 and RFC 7009 ask (400 `invalid_request`,
    `unsupported_grant_type`, `invalid_scope`), not with the framework's 422. The
    document still states what a request needs, in `required` and per grant. What the
    framework does refuse (NUL, a lone surrogate, a value too long) is a 400 too: the
    routes are OAuthRoutes.
    """
    return (
        STORABLE,
        Field(max_length=max_length),
        WithJsonSchema({"type": "string", "maxLength": max_length, **rule}),
    )


# Bounds far above any value Tessera issues or accepts (an email is at most 320, a
# secret under 100, a JWT under 2,000 characters): they only cap the work a request makes.
_NAME, _TOKEN = 400, 8192
# A refresh token, or at /revoke an access token too (RFC 7009 §2.1): bounded well above
# a JWT, so a wrong one is answered as unknown (invalid_grant, or 200) rather than by
# its length. The route takes an empty field for a missing one (400).
Token = Annotated[str | None, *_string(_TOKEN, minLength=1)]


class TokenRequest(BaseModel):
    """RFC 6749 §4.3, §6 and §4.4: the form of POST /token."""

    model_config = ConfigDict(json_schema_extra=_TOKEN_GRAMMAR)

    grant_type: Annotated[str | None, *_string(_NAME, enum=list(GRANT_TYPES))] = None
    username: Annotated[
        str | None,
        *_string(_NAME, minLength=1, description="`tenant-slug/email`, or the email with `tenant`"),
    ] = None
    password: Annotated[
        str | None, *_string(MAX_PASSWORD_LENGTH, minLength=1, format="password")
    ] = None
    scope: Annotated[
        str | None,
        *_string(
            _NAME,
            pattern=TOKEN_SCOPE_PATTERN,
            description="Space-separated scopes of the token's API; none asks for all of "
            "yours that it has. OpenID Connect's (`openid profile email offline_access`) are "
            "accepted and set aside: the code flow grants them, and a refresh keeps the "
            "session's",
        ),
    ] = None
    # A list so that a request giving it twice is seen (and refused: invalid_target).
    resource: Annotated[
        list[Annotated[str, *_string(_NAME, minLength=1)]],
        Field(
            description="RFC 8707: the identifier of the API the access token is for (its "
            "`aud`); at most one. None: Tessera's own API. On a refresh, the session's",
        ),
    ] = []
    tenant: Annotated[
        str | None,
        *_string(_NAME, pattern=SLUG_PATTERN, description="Needed unless the username names it"),
    ] = None
    refresh_token: Token = None
    client_id: Annotated[
        str | None,
        *_string(
            _NAME,
            minLength=1,
            description="The registered client (application) asking; optional for the "
            "password grant, which a client may not be allowed (unauthorized_client)",
        ),
    ] = None
    client_secret: Annotated[
        str | None,
        *_string(
            _NAME, minLength=1, format="password", description="A confidential client's secret"
        ),
    ] = None
    code: Annotated[
        str | None,
        *_string(_NAME, minLength=1, description="authorization_code: the code /authorize sent"),
    ] = None
    redirect_uri: Annotated[
        str | None,
        *_string(
            MAX_URI_LENGTH,
            minLength=1,
            description="authorization_code: the redirect_uri the code was sent to",
        ),
    ] = None
    code_verifier: Annotated[
        str | None,
        *_string(
            _NAME,
            minLength=43,
            pattern=r"^[A-Za-z0-9._~-]{43,128}$",
            description="authorization_code: the PKCE verifier (RFC 7636)",
        ),
    ] = None

    mfa_token: Annotated[
        str | None,
        *_string(_NAME, minLength=1, description="The mfa grant: from the mfa_required answer"),
    ] = None
    otp: Annotated[
        str | None,
        *_string(
            _NAME,
            minLength=1,
            format="password",
            description="The mfa grant: a current code of the user's authenticator app",
        ),
    ] = None
    recovery_code: Annotated[
        str | None,
        *_string(
            _NAME,
            minLength=1,
            format="password",
            description="The mfa grant: one of the user's recovery codes, instead of otp",
        ),
    ] = None
    webauthn_assertion: Annotated[
        str | None,
        *_string(
            MAX_CREDENTIAL_JSON,
            minLength=1,
            description=(
                "The mfa grant: a passkey's assertion, the JSON of the PublicKeyCredential "
                "that navigator.credentials.get() gave for POST /mfa/webauthn/options' "
                "options, instead of otp"
            ),
        ),
    ] = None


class RevocationRequest(BaseModel):
    """RFC 7009 §2.1: the form of POST /revoke."""

    model_config = ConfigDict(json_schema_extra={"required": ["token"]})

    token: Token = None
    token_type_hint: Annotated[str | None, *_string(_NAME, enum=list(TOKEN_TYPE_HINTS))] = None


class IntrospectionRequest(RevocationRequest):
    """RFC 7662 §2.1: the form of POST /introspect (the fields of RFC 7009's)."""


class IntrospectionResponse(BaseModel):
    """RFC 7662 §2.2: `active`, and for an active token what it says."""

    active: bool
    scope: str | None = None
    sub: str | None = Field(default=None, description="The user or service account")
    tid: str | None = Field(default=None, description="The subject's tenant")
    aud: str | None = Field(default=None, description="The API the token is for")
    iss: str | None = None
    exp: int | None = None
    iat: int | None = None
    jti: str | None = None
    token_type: Literal["bearer", "refresh_token"] | None = None
    kind: str | None = Field(default=None, description="`user` or `service_account`")


class TokenResponse(BaseModel):
    """RFC 6749 §5.1 successful token response."""

    access_token: Credential
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a token type, not a secret)
    expires_in: int
    scope: str
    # Password and refresh grants, and the code grant with offline_access; rotate on use.
    refresh_token: Credential | None = None
    # The code grant, when `openid` was asked (OpenID Connect Core §3.1.3.3).
    id_token: Credential | None = None
