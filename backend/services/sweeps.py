"""Scheduled lifecycle sweeps, and the preview that shows what they would do.

Each sweep is a candidate query (which rows are due, and why) and a set-based action
on a batch of those rows. The worker runs a sweep tenant by tenant, one bounded batch
per transaction; the preview runs the very same candidate query for one tenant, so
the preview and the sweep cannot disagree.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, Uuid, delete, func, literal, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import (
    AuthorizationCode,
    Grant,
    LoginSession,
    RefreshToken,
    Role,
    Tenant,
    User,
    UserStatus,
)
from backend.db.session import unit_of_work
from backend.db.tenant_context import enter_platform, enter_tenant
from backend.domain.policy import TenantPolicy
from backend.services import audit, lockout, offboarding, owners
from backend.services.effects import Effects

SYSTEM = "system:sweep"

# (key, subject, reason) rows; the key's type depends on the sweep.
Candidates = Select[*tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Due:
    """One row a sweep would act on, said for a person."""

    subject: str
    reason: str


@dataclass(frozen=True, slots=True)
class Sweep:
    name: str
    # (db, tenant_id, now) -> the due rows as (key, subject, reason), or None if off.
    candidates: Callable[[Session, uuid.UUID, datetime], Candidates | None]
    # (db, effects, tenant_id, keys, now) -> rows changed
    act: Callable[[Session, Effects, uuid.UUID, list[Any], datetime], int]
    # key -> the condition for rows after it in the candidates' order: each batch goes on
    # from the last key of the one before (keyset), so a sweep reads each row once.
    after: Callable[[Any], ColumnElement[bool]]


def _session_candidates(db: Session, tenant_id: uuid.UUID, now: datetime) -> Candidates:
    return (
        select(
            LoginSession.id,
            func.concat("user:", LoginSession.user_id),
            func.concat("session reached its absolute lifetime at ", LoginSession.expires_at),
        )
        .where(
            LoginSession.tenant_id == tenant_id,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at <= now,
        )
        .order_by(LoginSession.id)
    )


def _expire_sessions(
    db: Session, effects: Effects, tenant_id: uuid.UUID, keys: list[Any], now: datetime
) -> int:
    expired = db.scalars(
        update(LoginSession)
        .where(
            LoginSession.tenant_id == tenant_id,
            LoginSession.id.in_(keys),
            LoginSession.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoked_reason="expired")
        .returning(LoginSession.id)
    ).all()
    # Their tokens can never be used again: drop them rather than keep dead hashes.
    db.execute(
        delete(RefreshToken).where(
            RefreshToken.tenant_id == tenant_id, RefreshToken.family_id.in_(expired)
        )
    )
    return len(expired)


# A used code is kept this long past its expiry, so that a late replay is still seen as
# the reuse it is and revokes what the code issued (services/code_flow.py).
CODE_KEPT = timedelta(hours=1)


def _purge(
    name: str, model: type[RefreshToken] | type[AuthorizationCode], what: str, kept: timedelta
) -> Sweep:
    """A sweep that deletes the rows of `model` past their `expires_at` by `kept`."""

    def candidates(db: Session, tenant_id: uuid.UUID, now: datetime) -> Candidates:
        return (
            select(
                model.id,
                func.concat("user:", model.user_id),
                func.concat(f"{what} past ", model.expires_at),
            )
            .where(model.tenant_id == tenant_id, model.expires_at <= now - kept)
            .order_by(model.id)
        )

    def act(
        db: Session, effects: Effects, tenant_id: uuid.UUID, keys: list[Any], now: datetime
    ) -> int:
        deleted = db.scalars(
            delete(model)
            .where(
                model.tenant_id == tenant_id,
                model.id.in_(keys),
                model.expires_at <= now - kept,
            )
            .returning(model.id)
        )
        return len(deleted.all())

    return Sweep(name, candidates, act, lambda key: model.id > key)


def _grant_candidates(db: Session, tenant_id: uuid.UUID, now: datetime) -> Candidates:
    return (
        select(
            func.concat(Grant.user_id, "/", Grant.role_id),
            func.concat("user:", Grant.user_id),
            func.concat("role ", Role.name, " expired at ", Grant.expires_at),
        )
        .join(Role, (Role.tenant_id == Grant.tenant_id) & (Role.id == Grant.role_id))
        .where(Grant.tenant_id == tenant_id, Grant.expires_at <= now)
        .order_by(Grant.user_id, Grant.role_id)
    )


def _expire_grants(
    db: Session, effects: Effects, tenant_id: uuid.UUID, keys: list[Any], now: datetime
) -> int:
    removed = db.execute(
        delete(Grant)
        .where(
            Grant.tenant_id == tenant_id,
            func.concat(Grant.user_id, "/", Grant.role_id).in_([str(k) for k in keys]),
            Grant.expires_at <= now,
        )
        .returning(Grant.user_id, Grant.role_id)
    ).all()
    # Tidying only: a lapsed grant gave nothing from its expiry on, and no access token
    # outlived it (services/auth.py caps each at its scopes' first lapse), so nobody is
    # cut off here.
    audit.record_many(
        db,
        tenant_id=tenant_id,
        actor=SYSTEM,
        action="grant.expired",
        targets=[f"user:{user_id}/role:{role_id}" for user_id, role_id in removed],
    )
    return len(removed)


def _inactive_candidates(db: Session, tenant_id: uuid.UUID, now: datetime) -> Candidates | None:
    tenant = db.get_one(Tenant, tenant_id)
    days = TenantPolicy.from_json(tenant.policy).inactivity_days
    if days is None:
        return None
    last_seen = func.coalesce(User.last_login_at, User.created_at)
    return (
        select(
            User.id,
            func.concat("user:", User.id),
            func.concat("no login since ", last_seen, f" (policy: {days} days)"),
        )
        .where(
            User.tenant_id == tenant_id,
            User.status == UserStatus.ACTIVE,
            last_seen < now - timedelta(days=days),
            # A tenant keeps its owners; they are reported by the preview, not disabled.
            User.id.not_in(owners.active_owners(tenant_id)),
        )
        .order_by(User.id)
    )


def _disable_inactive(
    db: Session, effects: Effects, tenant_id: uuid.UUID, keys: list[Any], now: datetime
) -> int:
    # The candidates are read again under the owner lock: one made an owner (or who
    # logged in) since the batch was picked is not disabled.
    owners.lock(db, tenant_id)
    query = _inactive_candidates(db, tenant_id, now)
    if query is None:
        return 0
    due = db.execute(query.where(User.id.in_([uuid.UUID(str(key)) for key in keys]))).all()
    ids = [user_id for user_id, _, _ in due]
    disabled = offboarding.disable_users(
        db, effects, tenant_id, ids, actor=SYSTEM, reason="inactive"
    )
    return len(disabled)


def _lockout_candidates(db: Session, tenant_id: uuid.UUID, now: datetime) -> Candidates:
    return (
        select(
            User.id,
            func.concat("user:", User.id),
            func.concat("lockout ended at ", User.locked_until),
        )
        .where(User.tenant_id == tenant_id, User.locked_until <= now)
        .order_by(User.id)
    )


def _lift_lockouts(
    db: Session, effects: Effects, tenant_id: uuid.UUID, keys: list[Any], now: datetime
) -> int:
    policy = TenantPolicy.from_json(db.get_one(Tenant, tenant_id).policy)
    return len(
        db.scalars(
            update(User)
            .where(User.tenant_id == tenant_id, User.id.in_(keys), User.locked_until <= now)
            .values(locked_until=None, failed_logins=lockout.count_once_ended(policy))
            .returning(User.id)
        ).all()
    )


def _after_grant(key: Any) -> ColumnElement[bool]:
    user_id, role_id = str(key).split("/")
    return tuple_(Grant.user_id, Grant.role_id) > tuple_(
        literal(uuid.UUID(user_id), Uuid()), literal(uuid.UUID(role_id), Uuid())
    )


SWEEPS: dict[str, Sweep] = {
    s.name: s
    for s in (
        Sweep(
            "expire_sessions",
            _session_candidates,
            _expire_sessions,
            lambda key: LoginSession.id > key,
        ),
        _purge("purge_refresh_tokens", RefreshToken, "refresh token idle", timedelta(0)),
        _purge("purge_authorization_codes", AuthorizationCode, "authorization code", CODE_KEPT),
        Sweep("expire_role_grants", _grant_candidates, _expire_grants, _after_grant),
        Sweep(
            "disable_inactive_users",
            _inactive_candidates,
            _disable_inactive,
            lambda key: User.id > key,
        ),
        Sweep("lift_lockouts", _lockout_candidates, _lift_lockouts, lambda key: User.id > key),
    )
}


def tenant_ids(sessions: sessionmaker[Session]) -> list[uuid.UUID]:
    """Every tenant: the sweeps' one cross-tenant read, through the platform policy."""
    with unit_of_work(sessions) as db:
        enter_platform(db)
        return list(db.scalars(select(Tenant.id).order_by(Tenant.id)))


def run(sessions: sessionmaker[Session], effects: Effects, name: str, *, chunk: int) -> int:
    """Run one sweep over every tenant, a bounded batch per transaction; rows changed."""
    sweep = SWEEPS[name]
    changed = 0
    for tenant_id in tenant_ids(sessions):
        after: Any = None
        while True:
            with unit_of_work(sessions) as db:
                enter_tenant(db, tenant_id)
                now = datetime.now(UTC)
                query = sweep.candidates(db, tenant_id, now)
                if query is None:
                    break
                if after is not None:
                    query = query.where(sweep.after(after))
                keys = list(db.scalars(query.limit(chunk)))
                if not keys:
                    break
                changed += sweep.act(db, effects, tenant_id, keys, now)
            if len(keys) < chunk:
                break
            after = keys[-1]
    return changed


def preview(
    db: Session, tenant_id: uuid.UUID, now: datetime, *, limit: int
) -> dict[str, list[Due]]:
    """What each sweep would do in this tenant at `now`: the sweeps' own queries."""
    result: dict[str, list[Due]] = {}
    for name, sweep in SWEEPS.items():
        query = sweep.candidates(db, tenant_id, now)
        rows = [] if query is None else db.execute(query.limit(limit)).all()
        result[name] = [Due(subject=subject, reason=reason) for _, subject, reason in rows]
    return result
