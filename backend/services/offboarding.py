"""Cutting users off: disabling many, offboarding one or many. Set-based and idempotent.

A job walks the users it is about in id order, `chunk` at a time, each batch in the
caller's transaction, and carries the last id it looked at to the next batch (keyset):
the whole job reads every candidate once, however far it has got. Only what is still
to do is touched (an active user, a live session, an unrevoked account or key), so a
batch repeated after a crash (a redelivered task starts again from the first id)
changes nothing twice and writes no audit row twice.

Each batch is two statements: the next ids (locked, so two workers on one job split the
rows) and one statement that changes them and writes their audit rows together.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CTE,
    Boolean,
    ColumnElement,
    Integer,
    Select,
    String,
    Uuid,
    and_,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from backend.db.models import (
    ApiKey,
    AuditEvent,
    LoginSession,
    RefreshToken,
    ServiceAccount,
    User,
    UserStatus,
)
from backend.db.params import any_id
from backend.request_context import current_request
from backend.services import cutoff, owners
from backend.services.effects import Effects
from backend.services.jobs import Batch

OFFBOARDED = "offboarded"


def bulk_disable_filter(params: dict[str, Any]) -> ColumnElement[bool]:
    """The users a bulk job is about: listed ids, or last login before a time."""
    clauses: list[ColumnElement[bool]] = []
    if params.get("user_ids") is not None:
        clauses.append(User.id.in_([uuid.UUID(u) for u in params["user_ids"]]))
    if params.get("last_login_before") is not None:
        cutoff = datetime.fromisoformat(params["last_login_before"])
        clauses.append(
            or_(
                User.last_login_at < cutoff,
                and_(User.last_login_at.is_(None), User.created_at < cutoff),
            )
        )
    return and_(true(), *clauses)


def count_bulk(db: Session, tenant_id: uuid.UUID, params: dict[str, Any], *, offboard: bool) -> int:
    """How many users a bulk job would disable (or offboard) now, counted in the database."""
    query = _candidates_query(tenant_id, params, active_only=not offboard)
    return int(db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)


def bulk_step(
    db: Session,
    effects: Effects,
    tenant_id: uuid.UUID,
    params: dict[str, Any],
    *,
    actor: str,
    chunk: int,
    after: uuid.UUID | None,
    offboard: bool,
) -> Batch:
    """Disable the next `chunk` matching active users after `after`; with `offboard`,
    offboard the next matching users, active or already disabled (a disabled user's
    sessions end too). Owners are left alone: the job's result reports them as skipped.
    """
    # Owners are excluded as they are once the lock is held: someone made an owner
    # a moment ago is one, and no removal of another owner is halfway through.
    owners.lock(db, tenant_id)
    ids = _next_ids(db, tenant_id, params, chunk=chunk, after=after, active_only=not offboard)
    if offboard:
        reason = params.get("reason") or OFFBOARDED
        changed = offboard_users(db, effects, tenant_id, ids, actor=actor, reason=reason)
    else:
        reason = params.get("reason") or "bulk"
        changed = len(disable_users(db, effects, tenant_id, ids, actor=actor, reason=reason))
    return Batch(changed, ids[-1] if len(ids) == chunk else None)


def skipped_owners(db: Session, tenant_id: uuid.UUID, params: dict[str, Any]) -> int:
    """How many users the job matched but left alone because they are owners."""
    matching = select(func.count()).where(
        User.tenant_id == tenant_id,
        User.id.in_(owners.active_owners(tenant_id)),
        bulk_disable_filter(params),
    )
    return int(db.scalar(matching) or 0)


def offboard_step(
    db: Session, effects: Effects, tenant_id: uuid.UUID, user_id: uuid.UUID, *, actor: str
) -> int:
    """Disable one user and revoke every session, service account and API key they made.

    Returns 1 if anything changed, 0 once everything is already done. The owner rule is
    checked again here, when the job runs: two offboardings queued while each owner had
    another cannot both go through (LastOwnerError).
    """
    owners.require_another_owner(db, tenant_id, user_id)
    return offboard_users(db, effects, tenant_id, [user_id], actor=actor, reason=OFFBOARDED)


def _candidates_query(
    tenant_id: uuid.UUID, params: dict[str, Any], *, active_only: bool
) -> Select[uuid.UUID]:
    query = select(User.id).where(
        User.tenant_id == tenant_id,
        bulk_disable_filter(params),
        User.id.not_in(owners.active_owners(tenant_id)),
    )
    if active_only:
        query = query.where(User.status == UserStatus.ACTIVE)
    return query.order_by(User.id)


def _next_ids(
    db: Session,
    tenant_id: uuid.UUID,
    params: dict[str, Any],
    *,
    chunk: int,
    after: uuid.UUID | None,
    active_only: bool,
) -> list[uuid.UUID]:
    query = _candidates_query(tenant_id, params, active_only=active_only)
    if after is not None:
        query = query.where(User.id > after)
    # Two workers on one job (a redelivery racing a slow original) split the rows.
    return list(db.scalars(query.limit(chunk).with_for_update(of=User, skip_locked=True)))


def _without_owners_who_must_stay(
    db: Session, tenant_id: uuid.UUID, ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """`ids` less the owners who must stay: whoever picked the ids, and however long ago,
    the change cannot take the tenant's last lasting owner."""
    if not ids:
        return ids
    staying = owners.must_stay(db, tenant_id, ids)
    return [user_id for user_id in ids if user_id not in staying]


def _audit_columns(tenant_id: uuid.UUID, actor: str, action: str) -> list[Any]:
    context = current_request.get()
    return [
        literal(tenant_id, Uuid()),
        func.gen_random_uuid(),
        literal(actor, String()),
        literal(action, String()),
        literal(context.request_id if context else None, String()),
        literal(context.client_ip if context else None, String()),
    ]


_AUDIT_INTO = ["tenant_id", "id", "actor", "action", "request_id", "client_ip", "target", "data"]


def disable_users(
    db: Session,
    effects: Effects,
    tenant_id: uuid.UUID,
    ids: list[uuid.UUID],
    *,
    actor: str,
    reason: str,
) -> list[uuid.UUID]:
    """Disable those of `ids` still active, audit each and cut them off.

    One statement: the update and its audit rows. Their sessions are kept (refused while
    disabled, usable again if re-enabled); offboarding ends them. Owners the tenant
    must keep are left as they are (see owners.must_stay).
    """
    ids = _without_owners_who_must_stay(db, tenant_id, ids)
    if not ids:
        return []
    disabled = _disabling(tenant_id, ids, reason, func.now())
    data = {"reason": reason, "before": {"status": "active"}, "after": {"status": "disabled"}}
    audited = insert(AuditEvent).from_select(
        _AUDIT_INTO,
        select(
            *_audit_columns(tenant_id, actor, "user.disabled"),
            func.concat("user:", disabled.c.user_id),
            literal(data, JSONB()),
        ),
    )
    changed = list(db.scalars(select(disabled.c.user_id).add_cte(audited.cte("audited"))))
    cutoff.users(db, effects, tenant_id, changed, reason=cutoff.Reason.DISABLED)
    return changed


def _disabling(
    tenant_id: uuid.UUID, ids: list[uuid.UUID], reason: str, at: datetime | ColumnElement[datetime]
) -> CTE:
    """The UPDATE that disables those of `ids` still active, as a CTE of their `user_id`."""
    return (
        update(User)
        .where(User.tenant_id == tenant_id, User.id == any_id(ids))
        .where(User.status == UserStatus.ACTIVE)
        .values(status=UserStatus.DISABLED, disabled_at=at, disabled_reason=reason)
        .returning(User.id.label("user_id"))
        .cte("disabled")
    )


def offboard_users(
    db: Session,
    effects: Effects,
    tenant_id: uuid.UUID,
    ids: list[uuid.UUID],
    *,
    actor: str,
    reason: str,
) -> int:
    """Offboard `ids`: disable those still active, end their sessions (families and the
    tokens in them), revoke the service accounts and API keys they made, and write one
    `user.offboarded` event per user something changed for. One statement; how many
    users changed. Owners the tenant must keep are left as they are.
    """
    ids = _without_owners_who_must_stay(db, tenant_id, ids)
    if not ids:
        return 0
    now = datetime.now(UTC)
    disabled = _disabling(tenant_id, ids, reason, now)
    families = (
        update(LoginSession)
        .where(LoginSession.tenant_id == tenant_id, LoginSession.user_id == any_id(ids))
        .where(LoginSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=OFFBOARDED)
        .returning(LoginSession.id, LoginSession.user_id)
        .cte("families")
    )
    # Every token of a live session: a session's tokens are only ever revoked with it.
    tokens = (
        update(RefreshToken)
        .where(
            RefreshToken.tenant_id == tenant_id,
            RefreshToken.family_id.in_(select(families.c.id)),
            RefreshToken.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoked_reason=OFFBOARDED)
        .returning(RefreshToken.id)
        .cte("tokens")
    )
    accounts = (
        update(ServiceAccount)
        .where(ServiceAccount.tenant_id == tenant_id, ServiceAccount.created_by == any_id(ids))
        .where(ServiceAccount.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(ServiceAccount.id, ServiceAccount.created_by.label("user_id"))
        .cte("accounts")
    )
    keys = (
        update(ApiKey)
        .where(ApiKey.tenant_id == tenant_id, ApiKey.created_by == any_id(ids))
        .where(ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(ApiKey.created_by.label("user_id"))
        .cte("keys")
    )
    per_user = [
        select(cte.c.user_id, func.count().label("n")).group_by(cte.c.user_id).cte(f"{cte.name}_n")
        for cte in (families, accounts, keys)
    ]
    touched = union(
        select(disabled.c.user_id), *(select(counted.c.user_id) for counted in per_user)
    ).cte("touched")
    sessions_n, accounts_n, keys_n = per_user
    was_disabled = disabled.c.user_id.is_not(None)
    data = func.jsonb_build_object(
        "reason",
        literal(reason, String()),
        "before",
        func.jsonb_build_object("status", case((was_disabled, "active"), else_="disabled")),
        "after",
        func.jsonb_build_object("status", "disabled"),
        "sessions_revoked",
        func.coalesce(sessions_n.c.n, literal(0, Integer())),
        "service_accounts_revoked",
        func.coalesce(accounts_n.c.n, literal(0, Integer())),
        "api_keys_revoked",
        func.coalesce(keys_n.c.n, literal(0, Integer())),
    )
    audited = insert(AuditEvent).from_select(
        _AUDIT_INTO,
        select(
            *_audit_columns(tenant_id, actor, "user.offboarded"),
            func.concat("user:", touched.c.user_id),
            data,
        )
        .select_from(touched)
        .outerjoin(disabled, disabled.c.user_id == touched.c.user_id)
        .outerjoin(sessions_n, sessions_n.c.user_id == touched.c.user_id)
        .outerjoin(accounts_n, accounts_n.c.user_id == touched.c.user_id)
        .outerjoin(keys_n, keys_n.c.user_id == touched.c.user_id),
    )
    # One row per user changed, then the revoked service accounts: those and the users
    # just disabled are cut off.
    statement = union_all(
        select(touched.c.user_id, was_disabled.label("was_disabled"), literal(False, Boolean()))
        .select_from(touched)
        .outerjoin(disabled, disabled.c.user_id == touched.c.user_id),
        select(accounts.c.id, literal(False, Boolean()), literal(True, Boolean())),
    ).add_cte(tokens, audited.cte("audited"))
    rows = db.execute(statement).all()
    offboarded = [subject for subject, was, _ in rows if was]
    revoked = [subject for subject, _, account in rows if account]
    cutoff.users(db, effects, tenant_id, offboarded, reason=cutoff.Reason.OFFBOARDED)
    cutoff.service_accounts(db, effects, tenant_id, revoked, reason=cutoff.Reason.OFFBOARDED)
    return sum(1 for _, _, account in rows if not account)
