"""Scoped API keys of the principal's tenant (scope api_keys:manage)."""

import uuid

from fastapi import APIRouter, Response

from backend.api.deps import ApiKeysManage, ApiKeysManageSteppedUp, DbSession
from backend.api.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from backend.api.schemas.errors import FORBIDDEN, GUARDED_RESPONSES, NOT_FOUND, ErrorBody
from backend.services import api_keys

router = APIRouter(prefix="/api-keys", tags=["api keys"])


@router.post(
    "",
    status_code=201,
    response_model=ApiKeyCreated,
    responses={
        **GUARDED_RESPONSES,
        **FORBIDDEN,
        400: {"model": ErrorBody, "description": "No scope, or expires_at is not in the future"},
    },
)
def create_api_key(
    body: ApiKeyCreate, principal: ApiKeysManageSteppedUp, db: DbSession
) -> ApiKeyCreated:
    """Create a key acting as you, with scopes you hold. The key is shown once."""
    created = api_keys.create(
        db,
        principal,
        name=body.name,
        scopes=frozenset(body.scopes),
        expires_at=body.expires_at,
    )
    db.refresh(created.key)
    return ApiKeyCreated(**ApiKeyOut.of(created.key).model_dump(), key=created.plaintext)


@router.get("", response_model=list[ApiKeyOut], responses=GUARDED_RESPONSES)
def list_api_keys(principal: ApiKeysManage, db: DbSession) -> list[ApiKeyOut]:
    return [ApiKeyOut.of(k) for k in api_keys.list_keys(db, principal.tenant_id)]


@router.delete("/{id}", status_code=204, responses={**GUARDED_RESPONSES, **NOT_FOUND})
def revoke_api_key(id: uuid.UUID, principal: ApiKeysManage, db: DbSession) -> Response:
    """Revoke a key: it stops working at once."""
    api_keys.revoke(db, principal, id)
    return Response(status_code=204)
