"""Clients, the applications users sign in to (platform scopes clients:read, clients:write)."""

import uuid

from fastapi import APIRouter, Response

from backend.api.deps import AppEffects, AppRuntime, ClientsRead, ClientsWrite, DbSession
from backend.api.pagination import Cursor, Keyset, Limit
from backend.api.schemas.clients import (
    ClientCreate,
    ClientCreated,
    ClientOut,
    ClientPage,
    ClientUpdate,
)
from backend.api.schemas.errors import BAD_CURSOR, CONFLICT, GUARDED_RESPONSES, NOT_FOUND
from backend.domain.clients import ClientSpec
from backend.services import clients, tenants

router = APIRouter(prefix="/clients", tags=["clients (platform)"])


CLIENTS = Keyset("clients", (("client_id", str),))


@router.post(
    "",
    status_code=201,
    response_model=ClientCreated,
    responses={**GUARDED_RESPONSES, **CONFLICT},
)
def create_client(
    body: ClientCreate,
    principal: ClientsWrite,
    db: DbSession,
    runtime: AppRuntime,
    effects: AppEffects,
) -> ClientCreated:
    """Register a client. A confidential one gets a secret, in this answer only
    (`Cache-Control: no-store`). A taken client_id is 409; a URI, origin, grant or
    resource that breaks a rule is 422 with the field and the reason."""
    tenants.enter_as_operator(db, principal)
    spec = ClientSpec(
        client_id=body.client_id,
        name=body.name,
        type=body.type,
        redirect_uris=body.redirect_uris,
        post_logout_redirect_uris=body.post_logout_redirect_uris,
        allowed_origins=body.allowed_origins,
        grant_types=[g.value for g in body.grant_types],
        resources=body.resources,
    )
    created = clients.create(
        db, effects, principal, spec, own_audience=runtime.settings.jwt_audience
    )
    db.refresh(created.client)
    return ClientCreated.of(created)


@router.get("", response_model=ClientPage, responses={**GUARDED_RESPONSES, **BAD_CURSOR})
def list_clients(
    principal: ClientsRead, db: DbSession, limit: Limit = 50, cursor: Cursor = None
) -> ClientPage:
    """Every client by client_id, a page at a time; pass `next_cursor` back for more."""
    tenants.enter_as_operator(db, principal)
    page = clients.list_clients(db, after=CLIENTS.key(cursor), limit=limit)
    return ClientPage(
        items=[ClientOut.of(c) for c in page.items], next_cursor=CLIENTS.cursor(page.next_key)
    )


@router.get("/{id}", response_model=ClientOut, responses={**GUARDED_RESPONSES, **NOT_FOUND})
def get_client(id: uuid.UUID, principal: ClientsRead, db: DbSession) -> ClientOut:
    """One client."""
    tenants.enter_as_operator(db, principal)
    return ClientOut.of(clients.get(db, id))


@router.patch("/{id}", response_model=ClientOut, responses={**GUARDED_RESPONSES, **NOT_FOUND})
def update_client(
    id: uuid.UUID,
    body: ClientUpdate,
    principal: ClientsWrite,
    db: DbSession,
    runtime: AppRuntime,
    effects: AppEffects,
) -> ClientOut:
    """Change the fields sent; lists are replaced whole. client_id and type never change."""
    tenants.enter_as_operator(db, principal)
    changes = body.model_dump(exclude_unset=True, exclude_none=True, mode="json")
    client = clients.update(
        db, effects, principal, id, changes, own_audience=runtime.settings.jwt_audience
    )
    db.refresh(client)
    return ClientOut.of(client)


@router.delete("/{id}", status_code=204, responses={**GUARDED_RESPONSES, **NOT_FOUND})
def delete_client(
    id: uuid.UUID, principal: ClientsWrite, db: DbSession, effects: AppEffects
) -> Response:
    """Delete a client: its client_id is refused from now on."""
    tenants.enter_as_operator(db, principal)
    clients.delete(db, effects, principal, id)
    return Response(status_code=204)
