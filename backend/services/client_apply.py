"""`tessera clients apply`: reconcile the stored clients with a file, Terraform's way.

The plan is computed first and printed (services/declared.py); applying it goes through
services/clients.py, so the admin API and the file obey the same rules and audit the
same events, all in the caller's one transaction. Only clients the file names are
touched, unless `prune`. A client's type never changes (a secret would appear or vanish
under a running application): the file saying otherwise is refused with its line.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Client
from backend.domain.client_manifest import DeclaredClient
from backend.domain.manifest import ManifestError
from backend.services import audit, clients
from backend.services.declared import Plan
from backend.services.effects import Effects


def plan(db: Session, declared: list[DeclaredClient], *, prune: bool, own_audience: str) -> Plan:
    """Compare the file with the stored clients; a resource no API has, or a type that
    would change, is ManifestError with the file's line."""
    stored = {c.client_id: c for c in db.scalars(select(Client))}
    known = clients.known_resources(db, own_audience)
    result = Plan()
    for entry in declared:
        spec = entry.spec
        unknown = [r for r in spec.resources if r not in known]
        if unknown:
            raise ManifestError(entry.resources_line, f"no API has the identifier {unknown[0]!r}")
        client = stored.get(spec.client_id)
        if client is None:
            result.add.append(f"client {spec.client_id} ({spec.name!r}, {spec.type.value})")
            continue
        if client.type is not spec.type:
            raise ManifestError(
                entry.type_line,
                f"client {spec.client_id!r} is {client.type.value}; a type never changes "
                "(delete the client and declare it anew)",
            )
        before = clients.snapshot(client)
        for name in clients.MUTABLE_FIELDS:
            if before[name] != getattr(spec, name):
                result.change.append(
                    f"client {spec.client_id} {name}: {before[name]!r} -> {getattr(spec, name)!r}"
                )
    if prune:
        named = {entry.spec.client_id for entry in declared}
        result.remove.extend(f"client {c}" for c in sorted(stored.keys() - named))
    return result


def apply(
    db: Session,
    effects: Effects,
    operator: audit.Acting,
    declared: list[DeclaredClient],
    *,
    prune: bool,
    own_audience: str,
) -> Plan:
    """Plan, then make the plan's changes; flushes only (the caller commits once). A new
    confidential client's secret is in the plan's notes, the only time it is shown."""
    result = plan(db, declared, prune=prune, own_audience=own_audience)
    if result.empty:
        return result
    named = {entry.spec.client_id for entry in declared}
    if prune:
        for client in list(db.scalars(select(Client).where(Client.client_id.not_in(named)))):
            clients.delete(db, effects, operator, client.id)
    for entry in declared:
        spec = entry.spec
        found = clients.by_client_id(db, spec.client_id)
        if found is None:
            created = clients.create(db, effects, operator, spec, own_audience=own_audience)
            if created.secret is not None:
                result.notes.append(
                    f"client {spec.client_id} secret (shown only now): {created.secret}"
                )
            continue
        changes = {name: getattr(spec, name) for name in clients.MUTABLE_FIELDS}
        clients.update(db, effects, operator, found.id, changes, own_audience=own_audience)
    return result
