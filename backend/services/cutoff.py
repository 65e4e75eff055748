"""Cut-off: ending a subject's live access at once. Every change of standing comes here.

A subject's standing is what the guard checks on every request: the user (or service
account) is active, their tenant is active, and the token's `ver` equals their token
version. Whatever changes it (disable, enable, delete, offboard, a password change, a
role or grant change that takes a scope away or makes one lapse sooner, revoking a
service account, suspending or reactivating a tenant) calls this module, which

- bumps the subjects' token version, so every access token issued to them so far is
  refused (a tenant's status is read with each standing, so a tenant needs no bump);
- forgets their cached standing once the transaction commits: in this process at once,
  in every other through Redis (see security.principal_cache), so the next request reads
  the new standing instead of the remembered one;
- publishes the new standing on the standings feed once committed (security.standings_feed),
  which resource servers follow to refuse the subjects' tokens on their next request too.

Set-based: one `UPDATE ... WHERE id = ANY(:ids)` per kind of subject and one message
to other processes, however many subjects a bulk job or a role change reaches, and one
feed entry per 200 subjects.

`profiles` is not a cut-off: it forgets the tenant's cached GET /me answers after a
change of what they show (a name, a role) that leaves every standing as it was.

API keys are not here: the guard reads a key's row (revoked, expired, its creator's
status) on every use and caches nothing, so revoking one is its own cut-off.
"""

import logging
import uuid
from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import case, update
from sqlalchemy.orm import Session

from backend.db.models import ServiceAccount, User
from backend.db.params import any_id
from backend.db.session import after_commit
from backend.domain.standing import ACTIVE, DISABLED, SUSPENDED
from backend.domain.subjects import SubjectKind
from backend.security.standings_feed import SubjectChange
from backend.services.effects import Effects

logger = logging.getLogger(__name__)


class Reason(StrEnum):
    """Why a standing changed: one member per kind of change."""

    DISABLED = "disabled"
    ENABLED = "enabled"
    DELETED = "deleted"
    OFFBOARDED = "offboarded"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a reason, not a password)
    FACTORS_RESET = "factors_reset"
    # A role or grant change took a scope away, or brought its lapse forward.
    SCOPES_REDUCED = "scopes_reduced"
    SERVICE_ACCOUNT_REVOKED = "service_account_revoked"
    TENANT_SUSPENDED = "tenant_suspended"
    TENANT_REACTIVATED = "tenant_reactivated"
    # An authorization code came back after its exchange: it may have been stolen.
    CODE_REUSED = "code_reused"


def users(
    db: Session,
    effects: Effects,
    tenant_id: uuid.UUID,
    user_ids: Sequence[uuid.UUID],
    *,
    reason: Reason,
) -> None:
    """End the live access tokens of these users of the tenant, at once."""
    if not user_ids:
        return
    changed = db.execute(
        update(User)
        .where(User.tenant_id == tenant_id, User.id == any_id(user_ids))
        .values(token_version=User.token_version + 1)
        .returning(User.id, User.token_version, User.status)
    ).all()
    _after_commit(
        db,
        effects,
        tenant_id,
        list(user_ids),
        reason,
        [SubjectChange(SubjectKind.USER.value, str(i), v, str(s.value)) for i, v, s in changed],
    )


def service_accounts(
    db: Session,
    effects: Effects,
    tenant_id: uuid.UUID,
    account_ids: Sequence[uuid.UUID],
    *,
    reason: Reason,
) -> None:
    """End the live access tokens of these service accounts of the tenant, at once."""
    if not account_ids:
        return
    status = case((ServiceAccount.revoked_at.is_(None), ACTIVE), else_=DISABLED)
    changed = db.execute(
        update(ServiceAccount)
        .where(ServiceAccount.tenant_id == tenant_id, ServiceAccount.id == any_id(account_ids))
        .values(token_version=ServiceAccount.token_version + 1)
        .returning(ServiceAccount.id, ServiceAccount.token_version, status)
    ).all()
    kind = SubjectKind.SERVICE_ACCOUNT.value
    _after_commit(
        db,
        effects,
        tenant_id,
        list(account_ids),
        reason,
        [SubjectChange(kind, str(i), v, s) for i, v, s in changed],
    )


def tenant(db: Session, effects: Effects, tenant_id: uuid.UUID, *, reason: Reason) -> None:
    """After the tenant's status changed: every principal of it is checked anew at once."""
    status = SUSPENDED if reason is Reason.TENANT_SUSPENDED else ACTIVE
    _after_commit(db, effects, tenant_id, None, reason, [], tenant_status=status)


def profiles(db: Session, effects: Effects, tenant_id: uuid.UUID) -> None:
    """After a change of what GET /me shows in this tenant (a name, a role, a grant)
    that changes nobody's standing: its cached profiles go once committed."""
    _after_commit(db, effects, tenant_id, [], None, [])


def _after_commit(
    db: Session,
    effects: Effects,
    tenant_id: uuid.UUID,
    subject_ids: list[uuid.UUID] | None,
    reason: Reason | None,
    changes: list[SubjectChange],
    *,
    tenant_status: str | None = None,
) -> None:
    """Once the change is committed: drop the cached standing of `subject_ids` (the whole
    tenant's with None; none with an empty list) and the tenant's cached profiles, and
    publish a change of standing (`reason` set) on the feed."""

    def forget() -> None:
        effects.principal_cache.forget(tenant_id, subject_ids)
        if reason is not None:
            effects.standings.publish(tenant_id, reason.value, changes, tenant_status=tenant_status)
            subjects = "every subject" if subject_ids is None else f"{len(subject_ids)} subject(s)"
            logger.info("cut off %s of tenant %s (%s)", subjects, tenant_id, reason.value)

    after_commit(db, forget)
