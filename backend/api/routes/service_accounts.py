"""Service accounts of the principal's tenant (scope api_keys:manage)."""

import uuid

from fastapi import APIRouter, Response

from backend.api.deps import ApiKeysManage, AppEffects, DbSession
from backend.api.schemas.errors import CONFLICT, FORBIDDEN, GUARDED_RESPONSES, NOT_FOUND
from backend.api.schemas.service_accounts import (
    ServiceAccountCreate,
    ServiceAccountCreated,
    ServiceAccountOut,
)
from backend.services import service_accounts

router = APIRouter(prefix="/service-accounts", tags=["service accounts"])


@router.post(
    "",
    status_code=201,
    response_model=ServiceAccountCreated,
    responses={**GUARDED_RESPONSES, **FORBIDDEN, **NOT_FOUND, **CONFLICT},
)
def create_service_account(
    body: ServiceAccountCreate, principal: ApiKeysManage, db: DbSession
) -> ServiceAccountCreated:
    """Create a machine client; its roles' scopes must all be yours. The secret is shown once."""
    created = service_accounts.create(
        db,
        principal,
        name=body.name,
        description=body.description,
        role_ids=body.role_ids,
    )
    # Fetched again so created_at comes from the database.
    db.refresh(created.view.account)
    return ServiceAccountCreated(
        **ServiceAccountOut.of(created.view).model_dump(), client_secret=created.client_secret
    )


@router.get("", response_model=list[ServiceAccountOut], responses=GUARDED_RESPONSES)
def list_service_accounts(principal: ApiKeysManage, db: DbSession) -> list[ServiceAccountOut]:
    return [
        ServiceAccountOut.of(v) for v in service_accounts.list_accounts(db, principal.tenant_id)
    ]


@router.get("/{id}", response_model=ServiceAccountOut, responses={**GUARDED_RESPONSES, **NOT_FOUND})
def get_service_account(
    id: uuid.UUID, principal: ApiKeysManage, db: DbSession
) -> ServiceAccountOut:
    return ServiceAccountOut.of(service_accounts.get(db, principal.tenant_id, id))


@router.delete("/{id}", status_code=204, responses={**GUARDED_RESPONSES, **NOT_FOUND})
def revoke_service_account(
    id: uuid.UUID, principal: ApiKeysManage, db: DbSession, effects: AppEffects
) -> Response:
    """Revoke: the secret and every token the account holds stop working at once."""
    service_accounts.revoke(db, effects, principal, id)
    return Response(status_code=204)
