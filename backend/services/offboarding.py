"""Cutting users off: offboarding one user, disabling many. Set-based and idempotent.

Each step handles at most `chunk` users in the caller's transaction and returns how
many it changed; a job calls it until it returns 0. Only users still active are
touched, so a step repeated after a crash (a redelivered task) changes nothing twice
and writes no audit row twice.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, true, update
from sqlalchemy.orm import Session

from backend.db.models import (
    ApiKey,
    RefreshFamily,
    RefreshToken,
    ServiceAccount,
    User,
    UserStatus,
)
from backend.services import audit, owners, principals


def bulk_disable_filter(params: dict[str, Any]) -> ColumnElement[bool]:
    """The users a bulk-disable job is about: listed ids, or last login before a time."""
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


def count_bulk_disable(db: Session, tenant_id: uuid.UUID, params: dict[str, Any]) -> int:
    """How many users a bulk-disable job would disable now, counted in the database."""
    return _count(db, _candidates_query(db, tenant_id, params))


def bulk_disable_step(
    db: Session, tenant_id: uuid.UUID, params: dict[str, Any], *, actor: str, chunk: int
) -> int:
    """Disable up to `chunk` more matching active users; owners are left alone.

    A tenant keeps its owners: the result of the job reports them as skipped.
    """
    # Two workers on one job (a redelivery racing a slow original) split the rows.
    query = _candidates_query(db, tenant_id, params).limit(chunk).with_for_update(skip_locked=True)
    ids = list(db.scalars(query))
    return disable_users(db, tenant_id, ids, actor=actor, reason=params.get("reason") or "bulk")


def skipped_owners(db: Session, tenant_id: uuid.UUID, params: dict[str, Any]) -> int:
    """How many users the job matched but left alone because they are owners."""
    matching = select(User.id).where(
        User.tenant_id == tenant_id,
        User.id.in_(owners.active_owner_ids(db, tenant_id)),
        bulk_disable_filter(params),
    )
    return _count(db, matching)


def offboard_step(db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, *, actor: str) -> int:
    """Disable one user and revoke every session, service account and API key they made.

    Returns 1 if anything changed, 0 once everything is already done.
    """
    now = datetime.now(UTC)
    changed = disable_users(db, tenant_id, [user_id], actor=actor, reason="offboarded")
    families = len(
        db.scalars(
            update(RefreshFamily)
            .where(
                RefreshFamily.tenant_id == tenant_id,
                RefreshFamily.user_id == user_id,
                RefreshFamily.revoked_at.is_(None),
            )
            .values(revoked_at=now, revoked_reason="offboarded")
            .returning(RefreshFamily.id)
        ).all()
    )
    db.execute(
        update(RefreshToken)
        .where(
            RefreshToken.tenant_id == tenant_id,
            RefreshToken.user_id == user_id,
            RefreshToken.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoked_reason="offboarded")
    )
    accounts = list(
        db.scalars(
            update(ServiceAccount)
            .where(
                ServiceAccount.tenant_id == tenant_id,
                ServiceAccount.created_by == user_id,
                ServiceAccount.revoked_at.is_(None),
            )
            .values(revoked_at=now, token_version=ServiceAccount.token_version + 1)
            .returning(ServiceAccount.id)
        )
    )
    principals.forget_many_after_commit(db, tenant_id, accounts)
    keys = len(
        db.scalars(
            update(ApiKey)
            .where(
                ApiKey.tenant_id == tenant_id,
                ApiKey.created_by == user_id,
                ApiKey.revoked_at.is_(None),
            )
            .values(revoked_at=now)
            .returning(ApiKey.id)
        ).all()
    )
    if not (changed or families or accounts or keys):
        return 0
    audit.record(
        db,
        tenant_id=tenant_id,
        actor=actor,
        action="user.offboarded",
        target=f"user:{user_id}",
        data={
            "sessions_revoked": families,
            "service_accounts_revoked": len(accounts),
            "api_keys_revoked": keys,
        },
    )
    return 1


def _candidates_query(
    db: Session, tenant_id: uuid.UUID, params: dict[str, Any]
) -> Select[uuid.UUID]:
    return (
        select(User.id)
        .where(
            User.tenant_id == tenant_id,
            User.status == UserStatus.ACTIVE,
            bulk_disable_filter(params),
            User.id.not_in(owners.active_owner_ids(db, tenant_id)),
        )
        .order_by(User.id)
    )


def _count(db: Session, query: Select[uuid.UUID]) -> int:
    return int(db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)


def disable_users(
    db: Session, tenant_id: uuid.UUID, ids: list[uuid.UUID], *, actor: str, reason: str
) -> int:
    """Disable those of `ids` still active; audit and drop cached standing for each."""
    if not ids:
        return 0
    disabled = list(
        db.scalars(
            update(User)
            .where(
                User.tenant_id == tenant_id,
                User.id.in_(ids),
                User.status == UserStatus.ACTIVE,
            )
            .values(
                status=UserStatus.DISABLED,
                disabled_at=datetime.now(UTC),
                disabled_reason=reason,
                token_version=User.token_version + 1,
            )
            .returning(User.id)
        )
    )
    audit.record_many(
        db,
        tenant_id=tenant_id,
        actor=actor,
        action="user.disabled",
        targets=[f"user:{user_id}" for user_id in disabled],
        data={"reason": reason, "before": {"status": "active"}, "after": {"status": "disabled"}},
    )
    principals.forget_many_after_commit(db, tenant_id, disabled)
    return len(disabled)
