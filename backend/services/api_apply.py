"""`tessera apis apply`: reconcile the stored APIs with a file, Terraform's way.

The plan is computed first and printed; applying it goes through services/apis.py, so
the admin API and the file obey the same rules and audit the same events, all in the
caller's one transaction. Only APIs the file names are touched, unless `prune`.
Removing a scope that roles carry is refused with the roles, unless `cascade`: then it
is taken off those roles, their holders are cut off (services/cutoff.py) and each
changed role is audited in its tenant.
"""

import uuid
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend.db.models import Api, ApiScope, Role, RoleScope, Tenant
from backend.db.tenant_context import enter_platform, enter_tenant
from backend.domain.api_manifest import ApiSpec
from backend.domain.errors import ConflictError
from backend.domain.manifest import ManifestError
from backend.domain.subjects import SubjectKind
from backend.services import apis, audit, cutoff, role_impact, roles
from backend.services.declared import Plan
from backend.services.effects import Effects


@dataclass(slots=True)
class ApiPlan(Plan):
    # Scopes the plan removes from stored APIs (those that roles may carry).
    removed_scopes: list[str] = field(default_factory=list)


def plan(db: Session, specs: list[ApiSpec], *, prune: bool) -> ApiPlan:
    """Compare the file with the stored APIs. A scope name held by another stored API is
    ManifestError with the file's line."""
    stored = {a.identifier: a for a in db.scalars(select(Api))}
    scopes: dict[str, tuple[str, str]] = {}
    for name, identifier, text in db.execute(
        select(ApiScope.name, Api.identifier, ApiScope.description).join(Api)
    ):
        scopes[name] = (identifier, text)
    named = {s.identifier for s in specs}
    result = ApiPlan()
    for spec in specs:
        for scope, line in spec.scope_lines.items():
            owner = scopes.get(scope, (spec.identifier, ""))[0]
            if owner != spec.identifier and (owner in named or not prune):
                raise ManifestError(line, f"scope {scope!r} is already used by API {owner!r}")
        api = stored.get(spec.identifier)
        if api is None:
            result.add.append(f"api {spec.identifier} ({spec.name!r})")
            result.add.extend(f"scope {s} ({spec.identifier})" for s in sorted(spec.scopes))
            continue
        if api.name != spec.name:
            result.change.append(f"api {spec.identifier} name: {api.name!r} -> {spec.name!r}")
        if api.description != spec.description:
            result.change.append(
                f"api {spec.identifier} description: {api.description!r} -> {spec.description!r}"
            )
        held = {n: t for n, (i, t) in scopes.items() if i == spec.identifier}
        for scope in sorted(spec.scopes.keys() - held.keys()):
            result.add.append(f"scope {scope} ({spec.identifier})")
        for scope in sorted(spec.scopes.keys() & held.keys()):
            if spec.scopes[scope] != held[scope]:
                result.change.append(f"scope {scope} ({spec.identifier}) description")
        for scope in sorted(held.keys() - spec.scopes.keys()):
            result.remove.append(f"scope {scope} ({spec.identifier})")
            result.removed_scopes.append(scope)
    if prune:
        for identifier in sorted(stored.keys() - named):
            result.remove.append(f"api {identifier}")
            gone = sorted(n for n, (i, _) in scopes.items() if i == identifier)
            result.remove.extend(f"scope {s} ({identifier})" for s in gone)
            result.removed_scopes.extend(gone)
    return result


def apply(
    db: Session,
    effects: Effects,
    operator: apis.Operator,
    audience: str,
    specs: list[ApiSpec],
    *,
    prune: bool,
    cascade: bool,
) -> ApiPlan:
    """Plan, then make the plan's changes; flushes only (the caller commits once)."""
    result = plan(db, specs, prune=prune)
    if result.empty:
        return result
    carriers = apis.roles_carrying(db, operator, result.removed_scopes)
    if carriers and not cascade:
        raise ConflictError(
            f"scope(s) {' '.join(result.removed_scopes)} are carried by role(s) "
            f"{', '.join(carriers)}: remove them from those roles, or apply with --cascade"
        )
    if carriers:
        take_off_roles(db, effects, operator, result.removed_scopes)
    named = {s.identifier for s in specs}
    if prune:
        for api in list(db.scalars(select(Api).where(Api.identifier.not_in(named)))):
            apis.delete_api(db, operator, audience, api.id)
    for spec in specs:
        found = apis.find_by_identifier(db, spec.identifier)
        if found is None:
            apis.create_api(
                db,
                operator,
                audience,
                identifier=spec.identifier,
                name=spec.name,
                description=spec.description,
                scopes=spec.scopes,
            )
        else:
            apis.update_api(
                db,
                operator,
                audience,
                found.id,
                name=spec.name,
                description=spec.description,
                scopes=spec.scopes,
            )
    return result


def take_off_roles(
    db: Session, effects: Effects, operator: apis.Operator, scopes: list[str]
) -> None:
    """Remove `scopes` from every role of every tenant that carries them; cut off the
    users and service accounts who held those roles (directly or through inclusion) and
    audit each role in its tenant."""
    enter_platform(db)
    for tenant_id in list(db.scalars(select(Tenant.id))):
        enter_tenant(db, tenant_id)
        carrying = list(
            db.execute(
                select(Role.id, Role.name)
                .join(
                    RoleScope,
                    (RoleScope.tenant_id == Role.tenant_id) & (RoleScope.role_id == Role.id),
                )
                .where(RoleScope.scope.in_(scopes))
                .distinct()
            )
        )
        if not carrying:
            continue
        graph = roles.load_role_graph(db, tenant_id)
        reached: set[uuid.UUID] = set()
        for role_id, _ in carrying:
            reached |= graph.dependents(role_id)
        subjects = role_impact.holders(db, tenant_id, reached)
        db.execute(
            delete(RoleScope).where(RoleScope.tenant_id == tenant_id, RoleScope.scope.in_(scopes))
        )
        users = [i for kind, i in subjects if kind == SubjectKind.USER]
        accounts = [i for kind, i in subjects if kind != SubjectKind.USER]
        cutoff.users(db, effects, tenant_id, users, reason=cutoff.Reason.SCOPES_REDUCED)
        cutoff.service_accounts(
            db, effects, tenant_id, accounts, reason=cutoff.Reason.SCOPES_REDUCED
        )
        audit.record_many(
            db,
            tenant_id=tenant_id,
            actor=operator.actor,
            action="role.scopes_removed",
            targets=[f"role:{role_id}" for role_id, _ in carrying],
            data={"scopes": sorted(scopes), "by": "tessera apis apply --cascade"},
        )
    enter_tenant(db, operator.tenant_id)
