"""Discovery documents: the JWK Set (RFC 7517) and authorization server metadata (RFC 8414)."""

from pydantic import BaseModel


class Jwk(BaseModel):
    """One public signing key. Only public members exist here, so no private one can leak."""

    kty: str
    use: str
    alg: str
    kid: str
    # OKP (Ed25519) keys.
    crv: str | None = None
    x: str | None = None
    # RSA keys.
    n: str | None = None
    e: str | None = None


class Jwks(BaseModel):
    """The keys that verify access tokens; empty under HS256, whose key is secret."""

    keys: list[Jwk]


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414 §2."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str
    # RFC 8414 §2 (RFC 7662): service accounts authenticate with HTTP Basic.
    introspection_endpoint: str
    introspection_endpoint_auth_methods_supported: list[str]
    jwks_uri: str
    # An extension (RFC 8414 §2 allows them): the standings snapshot, whose feed is
    # `{standings_endpoint}/stream`; resource servers follow it for cut-off.
    standings_endpoint: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    # Every API's scopes: a token names one API with `resource` (RFC 8707).
    scopes_supported: list[str]
    response_types_supported: list[str]
    code_challenge_methods_supported: list[str]


class OpenIdConfiguration(AuthorizationServerMetadata):
    """OpenID Connect Discovery 1.0 §3: the authorization server's metadata, and what
    OpenID Connect adds."""

    userinfo_endpoint: str
    end_session_endpoint: str
    subject_types_supported: list[str]
    id_token_signing_alg_values_supported: list[str]
    claims_supported: list[str]
    response_modes_supported: list[str]
    prompt_values_supported: list[str]
    # The classes `acr_values` may ask for and id_tokens carry, weakest first.
    acr_values_supported: list[str]


class UserInfo(BaseModel):
    """OpenID Connect Core §5.3.2: the claims the access token's scopes allow."""

    sub: str
    tid: str
    email: str | None = None
    email_verified: bool | None = None
    name: str | None = None
