"""APIs (resource servers) and their scopes: the platform operators' use cases.

APIs are platform-level reference data (db/models/apis.py). Tessera's own API is built
in: its identifier is the configured JWT audience and its scopes are the code catalogue;
it is listed with the others but can be neither edited nor deleted. A scope name is
unique across every API, the catalogue's included, so a role's scope names one API.

Every mutation writes one audit event, in the operator's tenant, in the same transaction.
"""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend.db.models import Api, ApiScope, Role, RoleScope, Tenant
from backend.db.tenant_context import enter_platform, enter_tenant
from backend.domain.apis import (
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    validate_identifier,
    validate_scope_name,
    validate_text,
)
from backend.domain.errors import ConflictError, NotFoundError, UnknownScopeError
from backend.domain.scopes import SCOPE_DESCRIPTIONS
from backend.services import audit, concurrency

# The built-in API's id: fixed, so GET /apis/{id} can name it like any other.
BUILTIN_API_ID = uuid.UUID(int=0)
BUILTIN_API_NAME = "Tessera"
_CATALOGUE = {scope.value: text for scope, text in SCOPE_DESCRIPTIONS.items()}


@dataclass(frozen=True, slots=True)
class Operator:
    """Who changes APIs, as the audit log names them, and the tenant whose log it is."""

    tenant_id: uuid.UUID
    actor: str


@dataclass(frozen=True, slots=True)
class ApiView:
    id: uuid.UUID
    identifier: str
    name: str
    description: str
    builtin: bool
    # Scope name -> description.
    scopes: dict[str, str] = field(default_factory=dict)


def builtin(audience: str) -> ApiView:
    """Tessera's own API: the audience of its admin tokens, the code catalogue's scopes."""
    return ApiView(
        id=BUILTIN_API_ID,
        identifier=audience,
        name=BUILTIN_API_NAME,
        description="Tessera's own admin API",
        builtin=True,
        scopes=dict(_CATALOGUE),
    )


def list_apis(db: Session, audience: str) -> list[ApiView]:
    """Every API, the built-in one first, then by identifier."""
    apis = list(db.scalars(select(Api).order_by(Api.identifier)))
    scopes = _scopes_of(db, [a.id for a in apis])
    return [builtin(audience), *(_view(a, scopes.get(a.id, {})) for a in apis)]


def get_api(db: Session, audience: str, api_id: uuid.UUID) -> ApiView:
    """One API; NotFoundError if there is none."""
    if api_id == BUILTIN_API_ID:
        return builtin(audience)
    api = db.get(Api, api_id)
    if api is None:
        raise NotFoundError("API")
    return _view(api, _scopes_of(db, [api.id]).get(api.id, {}))


def find_by_identifier(db: Session, identifier: str) -> Api | None:
    """The stored API whose identifier (audience) is `identifier`, if any."""
    return db.scalars(select(Api).where(Api.identifier == identifier)).one_or_none()


def create_api(
    db: Session,
    operator: Operator,
    audience: str,
    *,
    identifier: str,
    name: str,
    description: str,
    scopes: Mapping[str, str],
) -> ApiView:
    """Declare an API with its scopes. A taken identifier, or a scope name another API
    (the built-in one included) already has, is ConflictError; a malformed field is
    InvalidApiError. Racing creations of one identifier: one wins, the others conflict."""
    if identifier == audience:
        raise ConflictError(f"{identifier!r} is Tessera's own API")
    validate_identifier(identifier)
    _check_fields(name=name, description=description, scopes=scopes)
    if find_by_identifier(db, identifier) is not None:
        raise ConflictError(f"API {identifier!r} already exists")
    api = Api(id=uuid.uuid4(), identifier=identifier, name=name, description=description)
    with concurrency.unique(db, "uq_apis_identifier", f"API {identifier!r} already exists"):
        db.add(api)
    _add_scopes(db, api.id, scopes)
    view = get_api(db, audience, api.id)
    audit.record_by(db, operator, "api.created", f"api:{view.id}", {"after": _state(view)})
    return view


def update_api(
    db: Session,
    operator: Operator,
    audience: str,
    api_id: uuid.UUID,
    *,
    name: str | None = None,
    description: str | None = None,
    scopes: Mapping[str, str] | None = None,
) -> ApiView:
    """Edit an API; None leaves a field as it is, `scopes` replaces the set whole.

    The identifier is immutable (tokens carry it). Removing a scope that roles still
    carry is refused, naming the roles (remove it from them first, or use
    `tessera apis apply --cascade`). The built-in API cannot be edited.
    """
    if api_id == BUILTIN_API_ID:
        raise ConflictError("Tessera's own API is built in: its scopes are the code catalogue")
    before = get_api(db, audience, api_id)
    _check_fields(name=name, description=description, scopes=scopes)
    api = db.get(Api, api_id, with_for_update=True)
    if api is None:
        raise NotFoundError("API")
    if name is not None:
        api.name = name
    if description is not None:
        api.description = description
    if scopes is not None:
        removed = sorted(before.scopes.keys() - scopes.keys())
        _refuse_carried(db, operator, removed)
        db.execute(delete(ApiScope).where(ApiScope.api_id == api_id, ApiScope.name.in_(removed)))
        kept = before.scopes.keys() & scopes.keys()
        for scope in db.scalars(select(ApiScope).where(ApiScope.name.in_(kept))):
            scope.description = scopes[scope.name]
        _add_scopes(db, api_id, {n: d for n, d in scopes.items() if n not in before.scopes})
    db.flush()
    after = get_api(db, audience, api_id)
    old, new = _state(before), _state(after)
    changed = [f for f in new if new[f] != old[f]]
    if changed:
        audit.record_by(
            db,
            operator,
            "api.updated",
            f"api:{after.id}",
            {"before": {f: old[f] for f in changed}, "after": {f: new[f] for f in changed}},
        )
    return after


def delete_api(db: Session, operator: Operator, audience: str, api_id: uuid.UUID) -> None:
    """Remove an API and its scopes; refused while roles carry any of them (naming the
    roles), and for the built-in API."""
    if api_id == BUILTIN_API_ID:
        raise ConflictError("Tessera's own API is built in and cannot be deleted")
    before = get_api(db, audience, api_id)
    _refuse_carried(db, operator, sorted(before.scopes))
    db.execute(delete(Api).where(Api.id == api_id))
    audit.record_by(db, operator, "api.deleted", f"api:{before.id}", {"before": _state(before)})


def hold_scopes(db: Session, names: Iterable[str]) -> None:
    """Require every name to be a registered scope (UnknownScopeError, 422, naming the
    others), and keep the product ones registered until the transaction ends.

    A role written with a product scope holds that scope's lock shared; a removal holds
    it exclusive (`roles_carrying`) before it looks for roles carrying the scope. So a
    removal and a role write racing each other serialise: either the removal sees the
    role (and refuses, or cascades), or the write finds the scope gone. Advisory locks,
    since a tenant's transaction may not lock rows of these platform tables.
    """
    product = sorted(set(names) - _CATALOGUE.keys())
    if not product:
        return
    _lock_scopes(db, product, shared=True)
    found = set(db.scalars(select(ApiScope.name).where(ApiScope.name.in_(product))))
    unknown = [name for name in product if name not in found]
    if unknown:
        raise UnknownScopeError(unknown)


def _lock_scopes(db: Session, names: Iterable[str], *, shared: bool) -> None:
    # Sorted: two transactions locking overlapping names cannot deadlock.
    for name in sorted(set(names)):
        concurrency.advisory_lock(db, "tessera.api_scope", name, shared=shared)


def roles_carrying(db: Session, operator: Operator, names: list[str]) -> list[str]:
    """`tenant-slug/role-name` of every role, in any tenant, that carries one of `names`.

    Roles are tenant-owned: each tenant is bound in turn (row-level security), then the
    operator's own tenant again. The names are locked first (see hold_scopes), until the
    transaction ends: no role takes them on after this answer.
    """
    if not names:
        return []
    _lock_scopes(db, names, shared=False)
    enter_platform(db)
    found: list[str] = []
    for tenant_id, slug in db.execute(select(Tenant.id, Tenant.slug).order_by(Tenant.slug)):
        enter_tenant(db, tenant_id)
        found.extend(
            f"{slug}/{role}"
            for role in db.scalars(
                select(Role.name)
                .join(
                    RoleScope,
                    (RoleScope.tenant_id == Role.tenant_id) & (RoleScope.role_id == Role.id),
                )
                .where(RoleScope.scope.in_(names))
                .distinct()
                .order_by(Role.name)
            )
        )
    enter_tenant(db, operator.tenant_id)
    return found


def _refuse_carried(db: Session, operator: Operator, names: list[str]) -> None:
    carriers = roles_carrying(db, operator, names)
    if carriers:
        raise ConflictError(
            f"scope(s) {' '.join(names)} are carried by role(s) {', '.join(carriers)}: "
            "remove them from those roles first"
        )


def _check_fields(
    *, name: str | None, description: str | None, scopes: Mapping[str, str] | None
) -> None:
    if name is not None:
        validate_text("name", name, max_length=MAX_NAME_LENGTH, required=True)
    if description is not None:
        validate_text("description", description, max_length=MAX_DESCRIPTION_LENGTH)
    for scope, text in (scopes or {}).items():
        validate_scope_name(scope)
        validate_text(f"description of {scope}", text, max_length=MAX_DESCRIPTION_LENGTH)
        if scope in _CATALOGUE:
            raise ConflictError(f"scope {scope!r} belongs to Tessera's own API")


def _add_scopes(db: Session, api_id: uuid.UUID, scopes: Mapping[str, str]) -> None:
    if not scopes:
        return
    taken = list(db.scalars(select(ApiScope.name).where(ApiScope.name.in_(list(scopes)))))
    if taken:
        raise ConflictError(f"scope(s) {' '.join(sorted(taken))} belong to another API")
    with concurrency.unique(db, "pk_api_scopes", "a scope of this API belongs to another API"):
        db.add_all(ApiScope(name=n, api_id=api_id, description=d) for n, d in scopes.items())


def _scopes_of(db: Session, api_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, str]]:
    result: dict[uuid.UUID, dict[str, str]] = {}
    if api_ids:
        rows = db.execute(
            select(ApiScope.api_id, ApiScope.name, ApiScope.description)
            .where(ApiScope.api_id.in_(api_ids))
            .order_by(ApiScope.name)
        )
        for api_id, name, text in rows:
            result.setdefault(api_id, {})[name] = text
    return result


def _view(api: Api, scopes: dict[str, str]) -> ApiView:
    return ApiView(
        id=api.id,
        identifier=api.identifier,
        name=api.name,
        description=api.description,
        builtin=False,
        scopes=scopes,
    )


def _state(view: ApiView) -> dict[str, object]:
    return {
        "identifier": view.identifier,
        "name": view.name,
        "description": view.description,
        "scopes": dict(sorted(view.scopes.items())),
    }
