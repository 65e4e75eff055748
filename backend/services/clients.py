"""Clients: the applications users sign in to, registered by platform operators.

A client is platform-level (one client serves every tenant). Every transaction may read
clients; writing one needs the transaction let past row-level security as a platform
operator (tenants.enter_as_operator), and each change is audited in the operator's log.

A confidential client's secret is made here, returned once, and stored only as its
SHA-256: 256 random bits need no slow hash.

Every change of a client forgets, once committed, what API processes keep of clients
(the origins CORS allows: security.principal_cache), in this process at once and in the
others through Redis, so the next request reads the change.
"""

import hmac
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import Api, Client
from backend.db.session import after_commit
from backend.domain.clients import (
    ClientMetadataError,
    ClientSpec,
    ClientType,
    GrantType,
    validate_client_id,
    validate_grant_types,
    validate_name,
    validate_origins,
    validate_redirect_uris,
)
from backend.domain.errors import FormClientError, NotFoundError, UnauthorizedClientError
from backend.security.opaque import new_secret, parse_secret
from backend.services import audit, concurrency
from backend.services.effects import Effects
from backend.services.paging import Page, page_of

# Not service accounts' "cs": the two kinds of secret never pass for one another.
SECRET_KIND = "app"  # noqa: S105 (the prefix of application secrets, not a secret)
# What may change after registration (client_id and type never do), in the order
# plans and audit events show them.
MUTABLE_FIELDS = (
    "name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "allowed_origins",
    "grant_types",
    "resources",
)


@dataclass(frozen=True, slots=True)
class CreatedClient:
    client: Client
    # A confidential client's secret, shown this once; None for a public client.
    secret: str | None


def known_resources(db: Session, own_audience: str) -> frozenset[str]:
    """The API identifiers a client may be allowed: Tessera's own admin API and every
    registered API."""
    return frozenset({own_audience, *db.scalars(select(Api.identifier))})


def checked(spec: ClientSpec, resources: Iterable[str]) -> ClientSpec:
    """`spec` with every rule applied (domain/clients.py), or ClientMetadataError naming
    the field; `resources` are the API identifiers that exist."""
    redirect_uris = validate_redirect_uris("redirect_uris", spec.redirect_uris)
    known = frozenset(resources)
    unknown = [r for r in dict.fromkeys(spec.resources) if r not in known]
    if unknown:
        raise ClientMetadataError(
            "resources: no API has the identifier(s) " + ", ".join(repr(r[:80]) for r in unknown)
        )
    return ClientSpec(
        client_id=validate_client_id(spec.client_id),
        name=validate_name(spec.name),
        type=spec.type,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=validate_redirect_uris(
            "post_logout_redirect_uris", spec.post_logout_redirect_uris
        ),
        allowed_origins=validate_origins(spec.allowed_origins),
        grant_types=[g.value for g in validate_grant_types(spec.grant_types, redirect_uris)],
        resources=list(dict.fromkeys(spec.resources)),
    )


def create(
    db: Session, effects: Effects, operator: audit.Acting, spec: ClientSpec, *, own_audience: str
) -> CreatedClient:
    """Register a client; a taken client_id is ConflictError (409). Needs
    enter_as_operator first. A confidential client gets a secret, returned once."""
    spec = checked(spec, known_resources(db, own_audience))
    client = Client(id=uuid.uuid4(), client_id=spec.client_id, type=spec.type)
    _assign(client, spec)
    secret = None
    if spec.type is ClientType.CONFIDENTIAL:
        issued = new_secret(SECRET_KIND, client.id)
        client.secret_hash, client.secret_prefix = issued.digest, issued.prefix
        secret = issued.value
    with concurrency.unique(
        db, "uq_clients_client_id", f"client {spec.client_id!r} already exists"
    ):
        db.add(client)
    audit.record_by(
        db, operator, "client.created", f"client:{client.id}", {"after": snapshot(client)}
    )
    _forget_after_commit(db, effects)
    return CreatedClient(client=client, secret=secret)


def list_clients(db: Session, *, after: tuple[str] | None, limit: int) -> Page[Client, tuple[str]]:
    """A page of clients ordered by client_id, starting after the key `after`."""
    query = select(Client)
    if after is not None:
        query = query.where(Client.client_id > after[0])
    rows = db.scalars(query.order_by(Client.client_id).limit(limit + 1)).all()
    return page_of(rows, limit, lambda client: (client.client_id,))


def get(db: Session, id: uuid.UUID, *, for_update: bool = False) -> Client:
    """One client by its id; NotFoundError if there is none."""
    client = db.get(Client, id, with_for_update=for_update, populate_existing=for_update)
    if client is None:
        raise NotFoundError("client")
    return client


def by_client_id(db: Session, client_id: str) -> Client | None:
    """The client OAuth requests name, or None."""
    return db.scalar(select(Client).where(Client.client_id == client_id))


def update(
    db: Session,
    effects: Effects,
    operator: audit.Acting,
    id: uuid.UUID,
    changes: dict[str, Any],
    *,
    own_audience: str,
) -> Client:
    """Change a client's name, URIs, origins, grants or resources (`changes` holds only
    the fields given). client_id and type never change. Audited with what changed."""
    client = get(db, id, for_update=True)
    before = snapshot(client)
    spec = checked(
        replace(_spec_of(client), **{k: v for k, v in changes.items() if k in MUTABLE_FIELDS}),
        known_resources(db, own_audience),
    )
    _assign(client, spec)
    after = snapshot(client)
    changed = {k for k in after if after[k] != before[k]}
    if changed:
        db.flush()
        data = {
            "before": {k: before[k] for k in sorted(changed)},
            "after": {k: after[k] for k in sorted(changed)},
        }
        audit.record_by(db, operator, "client.updated", f"client:{client.id}", data)
        _forget_after_commit(db, effects)
    return client


def delete(db: Session, effects: Effects, operator: audit.Acting, id: uuid.UUID) -> None:
    """Remove a client: /authorize and /token refuse its client_id from now on."""
    client = get(db, id, for_update=True)
    data = {"before": snapshot(client)}
    db.delete(client)
    db.flush()
    audit.record_by(db, operator, "client.deleted", f"client:{client.id}", data)
    _forget_after_commit(db, effects)


def authenticate_secret(client: Client, presented: str) -> bool:
    """Whether `presented` is the confidential client's secret, compared in constant time."""
    secret = parse_secret(SECRET_KIND, presented)
    if client.secret_hash is None or secret is None or secret.tenant_id != client.id:
        return False
    return hmac.compare_digest(secret.digest, client.secret_hash)


def client_for_grant(
    db: Session, client_id: str, client_secret: str | None, grant: GrantType
) -> Client:
    """The client a token request names, authenticated and allowed `grant`.

    An unknown client_id, or a confidential client without its secret, is
    FormClientError (invalid_client); a client whose registration leaves `grant` out (the password
    grant turned off for it) is UnauthorizedClientError.
    """
    client = by_client_id(db, client_id)
    if client is None:
        raise FormClientError("unknown client")
    if client.type is ClientType.CONFIDENTIAL and not authenticate_secret(
        client, client_secret or ""
    ):
        raise FormClientError("the client's secret is missing or wrong")
    if grant.value not in client.grant_types:
        raise UnauthorizedClientError(f"this client may not use the {grant.value} grant")
    return client


def snapshot(client: Client) -> dict[str, Any]:
    """What the audit log and `clients apply`'s plan compare: never the secret."""
    return {"client_id": client.client_id, "type": client.type.value} | {
        name: getattr(client, name) for name in MUTABLE_FIELDS
    }


def _spec_of(client: Client) -> ClientSpec:
    return ClientSpec(
        client_id=client.client_id,
        name=client.name,
        type=client.type,
        redirect_uris=list(client.redirect_uris),
        post_logout_redirect_uris=list(client.post_logout_redirect_uris),
        allowed_origins=list(client.allowed_origins),
        grant_types=list(client.grant_types),
        resources=list(client.resources),
    )


def _assign(client: Client, spec: ClientSpec) -> None:
    for name in MUTABLE_FIELDS:
        setattr(client, name, getattr(spec, name))


def allowed_origins(db: Session) -> frozenset[str]:
    """Every origin some client lists among its allowed_origins (CORS)."""
    return frozenset(db.scalars(select(func.unnest(Client.allowed_origins)).distinct()))


def _forget_after_commit(db: Session, effects: Effects) -> None:
    after_commit(db, effects.principal_cache.forget_clients)
