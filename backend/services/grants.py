"""Granting roles to users and taking them back.

The actor must hold every scope of the role's closure to grant or revoke it (no
escalation). Revoking the owner role from the tenant's last lasting owner, or giving
that grant an expiry, is refused (see services.owners).
A user who loses scopes by a revocation is cut off at once (see role_impact).
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend.db.models import Grant, Role, User
from backend.domain.errors import ConflictError, NotFoundError
from backend.domain.moments import require_expiry
from backend.domain.policy import require_within
from backend.domain.roles import OWNER
from backend.domain.subjects import SubjectKind
from backend.services import (
    audit,
    authorization,
    concurrency,
    cutoff,
    owners,
    role_impact,
    roles,
    users,
)
from backend.services.effects import Effects
from backend.services.principals import Principal
from backend.services.role_impact import Changed


@dataclass(frozen=True, slots=True)
class GrantView:
    """A grant with its role, and whether it still gives anything (not yet expired)."""

    grant: Grant
    role: Role
    active: bool


@dataclass(frozen=True, slots=True)
class Assigned:
    grant: GrantView
    # False when the user already held the role: the grant was updated, or left as it was.
    created: bool


def list_grants(db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[GrantView]:
    """A user's direct grants by role name, the expired ones included (marked inactive)."""
    users.get(db, tenant_id, user_id)
    rows = db.execute(
        select(Grant, Role)
        .join(Role, (Role.tenant_id == Grant.tenant_id) & (Role.id == Grant.role_id))
        .where(Grant.tenant_id == tenant_id, Grant.user_id == user_id)
        .order_by(Role.name)
    )
    now = datetime.now(UTC)
    return [_view(grant, role, now) for grant, role in rows]


def assign(
    db: Session,
    effects: Effects,
    actor: Principal,
    user_id: uuid.UUID,
    role_id: uuid.UUID,
    *,
    expires_at: datetime | None,
) -> Changed[Assigned]:
    """Grant a role, or set the expiry of the grant the user already has (idempotent).

    An unchanged grant is left alone and not audited; a changed one records who
    re-granted it and when.
    """
    tenant_id = actor.tenant_id
    roles.lock_role_graph(db, tenant_id, shared=True)
    user, role = _fetch(db, tenant_id, user_id, role_id)
    now = datetime.now(UTC)
    if expires_at is not None:
        require_expiry(expires_at, now)
    _require_within(db, actor, role)
    if users.is_deleted(user):
        raise ConflictError("this user has been deleted")
    if expires_at is not None and _is_owner(role):
        # A grant that lapses cannot be the owner the tenant keeps (domain.owners).
        owners.require_another_owner(db, tenant_id, user_id)
    reach = role_impact.snapshot(
        db, tenant_id, {(SubjectKind.USER, user_id)}, platform=actor.platform
    )
    grant = _locked_grant(db, tenant_id, user_id, role_id)
    created = False
    if grant is None:
        grant = Grant(
            tenant_id=tenant_id,
            user_id=user_id,
            role_id=role_id,
            granted_by=actor.user_id,
            granted_at=now,
            expires_at=expires_at,
        )
        created = concurrency.insert_new(db, grant, "pk_grants")
        if not created:
            # A concurrent PUT made the grant first: go on as with a grant already held.
            grant = _locked_grant(db, tenant_id, user_id, role_id)
            if grant is None:
                raise ConflictError("the grant was revoked meanwhile; try again")
    if created:
        audit.record_by(
            db,
            actor,
            "grant.given",
            f"user:{user.id}",
            _about(role, {"after": {"expires_at": _iso(expires_at)}}),
        )
        cutoff.profiles(db, effects, tenant_id)
    elif grant.expires_at != expires_at:
        before = grant.expires_at
        grant.expires_at = expires_at
        grant.granted_by = actor.user_id
        grant.granted_at = now
        db.flush()
        audit.record_by(
            db,
            actor,
            "grant.given",
            f"user:{user.id}",
            _about(
                role,
                {"before": {"expires_at": _iso(before)}, "after": {"expires_at": _iso(expires_at)}},
            ),
        )
        cutoff.profiles(db, effects, tenant_id)
    changes = role_impact.settle(db, effects, reach)
    return Changed(result=Assigned(grant=_view(grant, role, now), created=created), changes=changes)


def unassign(
    db: Session,
    effects: Effects,
    actor: Principal,
    user_id: uuid.UUID,
    role_id: uuid.UUID,
) -> Changed[None]:
    """Take a role back; the user is cut off if that costs them a scope.

    Of concurrent revocations of one grant, one deletes it and audits; the others 404,
    as a repeat does.
    """
    tenant_id = actor.tenant_id
    roles.lock_role_graph(db, tenant_id, shared=True)
    user, role = _fetch(db, tenant_id, user_id, role_id)
    grant = db.get(Grant, (tenant_id, user_id, role_id))
    if grant is None:
        raise NotFoundError("role grant")
    _require_within(db, actor, role)
    if _is_owner(role):
        owners.require_another_owner(db, tenant_id, user_id)
    reach = role_impact.snapshot(
        db, tenant_id, {(SubjectKind.USER, user_id)}, platform=actor.platform
    )
    deleted = concurrency.changed(
        db,
        delete(Grant).where(
            Grant.tenant_id == tenant_id,
            Grant.user_id == user_id,
            Grant.role_id == role_id,
        ),
        Grant.expires_at,
    )
    if deleted is None:
        raise NotFoundError("role grant")
    before = {"expires_at": _iso(deleted.expires_at)}
    audit.record_by(db, actor, "grant.revoked", f"user:{user.id}", _about(role, {"before": before}))
    cutoff.profiles(db, effects, tenant_id)
    return Changed(result=None, changes=role_impact.settle(db, effects, reach))


def _fetch(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, role_id: uuid.UUID
) -> tuple[User, Role]:
    user = users.get(db, tenant_id, user_id)
    role = db.get(Role, (tenant_id, role_id))
    if role is None:
        raise NotFoundError("role")
    return user, role


def _locked_grant(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, role_id: uuid.UUID
) -> Grant | None:
    """The grant read afresh and locked: concurrent PUTs of one grant change it one after
    the other, each seeing the expiry the last one left, so only real changes audit."""
    return db.get(
        Grant, (tenant_id, user_id, role_id), with_for_update=True, populate_existing=True
    )


def _is_owner(role: Role) -> bool:
    return role.builtin and role.name == OWNER.name


def _require_within(db: Session, actor: Principal, role: Role) -> None:
    require_within(
        authorization.acting_scopes(db, actor),
        roles.load_role_graph(db, role.tenant_id).expand([role.id]),
    )


def _view(grant: Grant, role: Role, now: datetime) -> GrantView:
    return GrantView(grant, role, active=grant.expires_at is None or grant.expires_at > now)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _about(role: Role, data: dict[str, Any]) -> dict[str, Any]:
    """A grant event's data: the role it is about, then what changed."""
    return {"role_id": str(role.id), "role": role.name, **data}
