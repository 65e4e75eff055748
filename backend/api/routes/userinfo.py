"""OpenID Connect's UserInfo endpoint (Core §5.3): the signed-in user's claims."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security

from backend.api.deps import DbSession, current_principal, oauth2_scheme, runtime_of
from backend.api.schemas.errors import GUARDED_RESPONSES
from backend.api.schemas.wellknown import UserInfo
from backend.domain.errors import InsufficientScopeError
from backend.domain.scopes import OIDC_SCOPES, OPENID
from backend.services import code_flow
from backend.services.principals import Principal

router = APIRouter(tags=["discovery"])
# Any valid access token of a user; `openid` is checked on the token itself, since it is
# not a scope of the catalogue (the guard's scopes are roles' scopes).
Signed = Annotated[Principal, Security(current_principal, scopes=[])]


_ROUTE: dict[str, Any] = {
    "response_model": UserInfo,
    "response_model_exclude_none": True,
    "responses": GUARDED_RESPONSES,
    "summary": "The signed-in user's claims (OpenID Connect Core §5.3)",
}


# Core §5.3.1: GET and POST both.
@router.post("/userinfo", **_ROUTE)
@router.get("/userinfo", **_ROUTE)
def userinfo(
    request: Request,
    principal: Signed,
    db: DbSession,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> UserInfo:
    """`sub` and `tid` always; `email` with the `email` scope, `name` with `profile`.
    A token without `openid` is 403 insufficient_scope."""
    scopes = runtime_of(request).tokens.decode(token).scopes if token else frozenset()
    if OPENID not in scopes:
        raise InsufficientScopeError([OPENID])
    user_id = principal.require_user()
    claims = code_flow.user_claims(db, principal.tenant_id, user_id, scopes & OIDC_SCOPES)
    return UserInfo(sub=str(user_id), tid=str(principal.tenant_id), **claims)
