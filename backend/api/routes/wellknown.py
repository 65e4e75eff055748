"""Discovery endpoints, unguarded: the public signing keys and the server's metadata."""

from fastapi import APIRouter, Request, Response

from backend.api.deps import AppRuntime, DbSession
from backend.api.schemas.auth import GRANT_TYPES
from backend.api.schemas.errors import ErrorBody
from backend.api.schemas.wellknown import AuthorizationServerMetadata, Jwks, OpenIdConfiguration
from backend.domain.assurance import ACR_VALUES
from backend.domain.code_flow import ID_TOKEN_CLAIMS, OIDC_SCOPES, S256, Prompt
from backend.domain.errors import NotFoundError
from backend.services import apis

router = APIRouter(tags=["discovery"])

# Long enough to spare the server, short enough that a key added before it becomes
# current (see docs/security.md) reaches verifiers' caches in minutes.
JWKS_CACHE_CONTROL = "public, max-age=300"


@router.get(
    "/.well-known/jwks.json",
    response_model=Jwks,
    response_model_exclude_none=True,
    summary="The public keys that verify access tokens (RFC 7517)",
)
async def jwks(runtime: AppRuntime, response: Response) -> Jwks:
    """Pick the key by the token header's `kid`. Empty under HS256, whose key is secret."""
    response.headers["Cache-Control"] = JWKS_CACHE_CONTROL
    return Jwks.model_validate(runtime.tokens.jwks())


@router.get(
    "/.well-known/oauth-authorization-server",
    response_model=AuthorizationServerMetadata,
    summary="Authorization server metadata (RFC 8414)",
)
def authorization_server_metadata(
    request: Request, runtime: AppRuntime, db: DbSession
) -> AuthorizationServerMetadata:
    """Endpoints, grants and scopes (every API's: Tessera's own and the product's), with
    URLs under the base URL the request came to."""
    base = str(request.base_url).rstrip("/")
    return AuthorizationServerMetadata(
        issuer=runtime.settings.jwt_issuer,
        authorization_endpoint=f"{base}/authorize",
        token_endpoint=f"{base}/token",
        revocation_endpoint=f"{base}/revoke",
        introspection_endpoint=f"{base}/introspect",
        introspection_endpoint_auth_methods_supported=["client_secret_basic"],
        jwks_uri=f"{base}/.well-known/jwks.json",
        standings_endpoint=f"{base}/standings",
        grant_types_supported=list(GRANT_TYPES),
        token_endpoint_auth_methods_supported=["client_secret_basic", "none"],
        # Every API's scopes (a token names its API with `resource`), then OpenID's.
        scopes_supported=[
            *(
                scope
                for api in apis.list_apis(db, runtime.settings.jwt_audience)
                for scope in api.scopes
            ),
            *sorted(OIDC_SCOPES),
        ],
        response_types_supported=["code"],
        code_challenge_methods_supported=[S256],
    )


@router.get(
    "/.well-known/openid-configuration",
    response_model=OpenIdConfiguration,
    responses={404: {"model": ErrorBody, "description": "OpenID Connect is not offered"}},
    summary="OpenID Connect discovery (OpenID Connect Discovery 1.0)",
)
def openid_configuration(
    request: Request, runtime: AppRuntime, db: DbSession
) -> OpenIdConfiguration:
    """Served when id_tokens can be signed: TESSERA_JWT_ALGORITHM EdDSA or RS256."""
    if not runtime.issuers.id_tokens.available:
        raise NotFoundError("OpenID Connect configuration (it needs EdDSA or RS256)")
    base = str(request.base_url).rstrip("/")
    metadata = authorization_server_metadata(request, runtime, db)
    return OpenIdConfiguration(
        **metadata.model_dump(),
        userinfo_endpoint=f"{base}/userinfo",
        end_session_endpoint=f"{base}/logout",
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=[runtime.issuers.id_tokens.algorithm],
        claims_supported=[*ID_TOKEN_CLAIMS, "email", "email_verified", "name"],
        response_modes_supported=["query"],
        prompt_values_supported=[p.value for p in Prompt],
        acr_values_supported=list(ACR_VALUES),
    )
