"""What a role change does to the scopes of the users and service accounts it reaches.

Every role mutation takes a snapshot of the subjects it can reach, makes the change,
then `settle`s: the subjects that lost a scope get their token version bumped, so the
access tokens they hold (which carry the old scopes) stop working at once. So do those
for whom a scope they keep now lapses sooner (an expiry set or brought forward, an
inclusion that gave it for good removed): their tokens' expiry was set for the old
lapse. Gaining a scope, or keeping one longer, needs no cut-off: a new token picks it up.

A dry run makes the same change inside a savepoint, describes the impact, and rolls
the savepoint back, so it is checked exactly as the real change would be (404, 403,
409 alike) and leaves nothing behind, audit events included.
"""

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.db.models import Grant, ServiceAccount, ServiceAccountRole, User
from backend.domain.roles import Lapses, ScopeChange, scope_changes
from backend.domain.scopes import PLATFORM_SCOPES
from backend.domain.subjects import SubjectKind
from backend.services import cutoff, roles, sessions
from backend.services.effects import Effects

Result = TypeVar("Result")
# A subject whose scopes a role change can move.
SubjectKey = tuple[SubjectKind, uuid.UUID]


@dataclass(frozen=True, slots=True)
class Snapshot:
    tenant_id: uuid.UUID
    platform: bool
    scopes: dict[SubjectKey, Lapses]


@dataclass(frozen=True, slots=True)
class Changed(Generic[Result]):
    """A mutation's result, and whose scopes it moved."""

    result: Result
    changes: list[ScopeChange[SubjectKey]]


def holders(db: Session, tenant_id: uuid.UUID, role_ids: Iterable[uuid.UUID]) -> set[SubjectKey]:
    """Users with an unexpired grant of, and service accounts holding, any of `role_ids`."""
    wanted = list(role_ids)
    now = datetime.now(UTC)
    user_ids = db.scalars(
        select(Grant.user_id).where(
            Grant.tenant_id == tenant_id,
            Grant.role_id.in_(wanted),
            or_(Grant.expires_at.is_(None), Grant.expires_at > now),
        )
    )
    account_ids = db.scalars(
        select(ServiceAccountRole.service_account_id).where(
            ServiceAccountRole.tenant_id == tenant_id, ServiceAccountRole.role_id.in_(wanted)
        )
    )
    return {(SubjectKind.USER, u) for u in user_ids} | {
        (SubjectKind.SERVICE_ACCOUNT, a) for a in account_ids
    }


def snapshot(
    db: Session, tenant_id: uuid.UUID, subjects: Iterable[SubjectKey], *, platform: bool
) -> Snapshot:
    """The current effective scopes of `subjects`, and their lapses: one graph load, one
    query per kind."""
    keys = set(subjects)
    return Snapshot(tenant_id, platform, _scopes_of(db, tenant_id, keys, platform=platform))


def settle(db: Session, effects: Effects, before: Snapshot) -> list[ScopeChange[SubjectKey]]:
    """Compare with `before` and cut off every subject that lost a scope, or for whom one
    now lapses sooner."""
    after = _scopes_of(db, before.tenant_id, set(before.scopes), platform=before.platform)
    changes = scope_changes(before.scopes, after)
    cut = [c.subject for c in changes if c.cuts_off]
    users = [i for (kind, i) in cut if kind == SubjectKind.USER]
    accounts = [i for (kind, i) in cut if kind != SubjectKind.USER]
    # Set-based: one statement per kind however many subjects a role reaches.
    cutoff.users(db, effects, before.tenant_id, users, reason=cutoff.Reason.SCOPES_REDUCED)
    cutoff.service_accounts(
        db, effects, before.tenant_id, accounts, reason=cutoff.Reason.SCOPES_REDUCED
    )
    return changes


@dataclass(frozen=True, slots=True)
class UserImpact:
    user_id: uuid.UUID
    email: str
    gained: list[str]
    lost: list[str]
    # Kept, but lapsing sooner than before: their tokens are cut off too.
    lapses_sooner: list[str]
    # Live refresh sessions whose access tokens the change cuts off (0 if none are).
    sessions_cut: int


@dataclass(frozen=True, slots=True)
class AccountImpact:
    service_account_id: uuid.UUID
    name: str
    gained: list[str]
    lost: list[str]


@dataclass(frozen=True, slots=True)
class Impact:
    users: list[UserImpact]
    service_accounts: list[AccountImpact]


def preview(db: Session, tenant_id: uuid.UUID, change: Callable[[], Changed[Result]]) -> Impact:
    """Run `change` in a savepoint, describe what it did to whom, and roll it back.

    The principal-cache drops that `settle` schedules still run once the request commits;
    that is harmless: the next request of those subjects re-reads their standing.
    """
    savepoint = db.begin_nested()
    try:
        return describe(db, tenant_id, change().changes)
    finally:
        savepoint.rollback()


def describe(db: Session, tenant_id: uuid.UUID, changes: list[ScopeChange[SubjectKey]]) -> Impact:
    """Plain data about `changes`, with emails, names and the sessions cut off."""
    now = datetime.now(UTC)
    by_kind: dict[SubjectKind, dict[uuid.UUID, ScopeChange[SubjectKey]]] = {
        SubjectKind.USER: {},
        SubjectKind.SERVICE_ACCOUNT: {},
    }
    for change in changes:
        by_kind[change.subject[0]][change.subject[1]] = change
    of_users, of_accounts = by_kind[SubjectKind.USER], by_kind[SubjectKind.SERVICE_ACCOUNT]
    users = db.scalars(select(User).where(User.tenant_id == tenant_id, User.id.in_(list(of_users))))
    accounts = db.scalars(
        select(ServiceAccount).where(
            ServiceAccount.tenant_id == tenant_id, ServiceAccount.id.in_(list(of_accounts))
        )
    )
    user_rows = [
        UserImpact(
            user_id=user.id,
            email=user.email,
            gained=sorted(of_users[user.id].gained),
            lost=sorted(of_users[user.id].lost),
            lapses_sooner=sorted(of_users[user.id].hastened),
            sessions_cut=len(sessions.live_sessions(db, tenant_id, user.id, now))
            if of_users[user.id].cuts_off
            else 0,
        )
        for user in users
    ]
    account_rows = [
        AccountImpact(
            service_account_id=account.id,
            name=account.name,
            gained=sorted(of_accounts[account.id].gained),
            lost=sorted(of_accounts[account.id].lost),
        )
        for account in accounts
    ]
    return Impact(
        users=sorted(user_rows, key=lambda row: row.email.lower()),
        service_accounts=sorted(account_rows, key=lambda row: row.name),
    )


def _scopes_of(
    db: Session, tenant_id: uuid.UUID, subjects: set[SubjectKey], *, platform: bool
) -> dict[SubjectKey, Lapses]:
    if not subjects:
        return {}
    graph = roles.load_role_graph(db, tenant_id)
    now = datetime.now(UTC)
    # Each subject's granted roles, with the grant's expiry (a service account's never).
    granted: dict[SubjectKey, dict[uuid.UUID, datetime | None]] = {key: {} for key in subjects}
    user_ids = [i for kind, i in subjects if kind == SubjectKind.USER]
    account_ids = [i for kind, i in subjects if kind == SubjectKind.SERVICE_ACCOUNT]
    for user_id, role_id, expires_at in db.execute(
        select(Grant.user_id, Grant.role_id, Grant.expires_at).where(
            Grant.tenant_id == tenant_id,
            Grant.user_id.in_(user_ids),
            or_(Grant.expires_at.is_(None), Grant.expires_at > now),
        )
    ):
        granted[(SubjectKind.USER, user_id)][role_id] = expires_at
    for account_id, role_id in db.execute(
        select(ServiceAccountRole.service_account_id, ServiceAccountRole.role_id).where(
            ServiceAccountRole.tenant_id == tenant_id,
            ServiceAccountRole.service_account_id.in_(account_ids),
        )
    ):
        granted[(SubjectKind.SERVICE_ACCOUNT, account_id)][role_id] = None
    # The same mask as roles.effective_scopes: platform scopes count only in the platform.
    return {
        key: {
            scope: lapse
            for scope, lapse in graph.lapses(grants).items()
            if platform or scope not in PLATFORM_SCOPES
        }
        for key, grants in granted.items()
    }
