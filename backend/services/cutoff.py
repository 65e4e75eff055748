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
  the new standing instead of the remembered one.

Set-based: one `UPDATE ... WHERE id = ANY(:ids)` per kind of subject and one message
to other processes, however many subjects a bulk job or a role change reaches. This is
the one place a standings feed has to publish from.

`profiles` is not a cut-off: it forgets the tenant's cached GET /me answers after a
change of what they show (a name, a role) that leaves every standing as it was.

API keys are not here: the guard reads a key's row (revoked, expired, its creator's
status) on every use and caches nothing, so revoking one is its own cut-off.
"""

import logging
import uuid
from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.db.models import ServiceAccount, User
from backend.db.params import any_id
from backend.db.session import after_commit
from backend.services.effects import Effects

logger = logging.getLogger(__name__)


class Reason(StrEnum):
    """Why a standing changed: one member per kind of change."""

    DISABLED = "disabled"
    ENABLED = "enabled"
    DELETED = "deleted"
    OFFBOARDED = "offboarded"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a reason, not a password)
    # A role or grant change took a scope away, or brought its lapse forward.
    SCOPES_REDUCED = "scopes_reduced"
    SERVICE_ACCOUNT_REVOKED = "service_account_revoked"
    TENANT_SUSPENDED = "tenant_suspended"
    TENANT_REACTIVATED = "tenant_reactivated"


def users(
    db: Session,
    effects: Effects,
    tenant_id: uuid.UUID,
    user_ids: Sequence[uuid.UUID],
    *,
    reason: Reason,
) -> None:
    """End the live access tokens of these users of the tenant, at once."""
    _bump(db, effects, User, tenant_id, user_ids, reason)


def service_accounts(
    db: Session,
    effects: Effects,
    tenant_id: uuid.UUID,
    account_ids: Sequence[uuid.UUID],
    *,
    reason: Reason,
) -> None:
    """End the live access tokens of these service accounts of the tenant, at once."""
    _bump(db, effects, ServiceAccount, tenant_id, account_ids, reason)


def tenant(db: Session, effects: Effects, tenant_id: uuid.UUID, *, reason: Reason) -> None:
    """After the tenant's status changed: every principal of it is checked anew at once."""
    _forget_after_commit(db, effects, tenant_id, None, reason)


def profiles(db: Session, effects: Effects, tenant_id: uuid.UUID) -> None:
    """After a change of what GET /me shows in this tenant (a name, a role, a grant)
    that changes nobody's standing: its cached profiles go once committed."""
    _forget_after_commit(db, effects, tenant_id, [], None)


def _bump(
    db: Session,
    effects: Effects,
    subjects: type[User] | type[ServiceAccount],
    tenant_id: uuid.UUID,
    ids: Sequence[uuid.UUID],
    reason: Reason,
) -> None:
    """One statement for the whole batch, and one message once it is committed."""
    if not ids:
        return
    db.execute(
        update(subjects)
        .where(subjects.tenant_id == tenant_id, subjects.id == any_id(ids))
        .values(token_version=subjects.token_version + 1)
    )
    _forget_after_commit(db, effects, tenant_id, list(ids), reason)


def _forget_after_commit(
    db: Session,
    effects: Effects,
    tenant_id: uuid.UUID,
    subject_ids: list[uuid.UUID] | None,
    reason: Reason | None,
) -> None:
    """Drop the cached standing of `subject_ids` (the whole tenant's with None; none with
    an empty list) and the tenant's cached profiles, once the change is committed."""

    def forget() -> None:
        effects.principal_cache.forget(tenant_id, subject_ids)
        if reason is not None:
            subjects = "every subject" if subject_ids is None else f"{len(subject_ids)} subject(s)"
            logger.info("cut off %s of tenant %s (%s)", subjects, tenant_id, reason.value)

    after_commit(db, forget)
