"""Discovery endpoints, unguarded: the public signing keys and the server's metadata."""

from fastapi import APIRouter, Request, Response

from backend.api.deps import AppRuntime
from backend.api.schemas.auth import GRANT_TYPES
from backend.api.schemas.wellknown import AuthorizationServerMetadata, Jwks
from backend.domain.scopes import Scope

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
async def authorization_server_metadata(
    request: Request, runtime: AppRuntime
) -> AuthorizationServerMetadata:
    """Endpoints, grants and scopes, with URLs under the base URL the request came to."""
    base = str(request.base_url).rstrip("/")
    return AuthorizationServerMetadata(
        issuer=runtime.settings.jwt_issuer,
        token_endpoint=f"{base}/token",
        revocation_endpoint=f"{base}/revoke",
        jwks_uri=f"{base}/.well-known/jwks.json",
        standings_endpoint=f"{base}/standings",
        grant_types_supported=list(GRANT_TYPES),
        token_endpoint_auth_methods_supported=["client_secret_basic", "none"],
        scopes_supported=[scope.value for scope in Scope],
        # Required by RFC 8414; empty because there is no authorization endpoint.
        response_types_supported=[],
    )
