"""The admin's changes to users: create, edit, disable, enable, delete and unlock.

Every change is audited with the before and after of what it changed, and one that
changes a user's standing ends their live access through services.cutoff. Deleting is
soft: the row stays (the audit log and grants refer to it), disabled, with its personal
data and password removed and its sessions ended.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Role, User, UserStatus
from backend.domain.errors import ConflictError, NotFoundError
from backend.domain.policy import require_within
from backend.domain.roles import MEMBER
from backend.security.passwords import PasswordService
from backend.services import (
    audit,
    authorization,
    cutoff,
    email_verification,
    invitations,
    lockout,
    owners,
    roles,
    sessions,
    users,
)
from backend.services.effects import Effects
from backend.services.invitations import IssuedInvitation
from backend.services.principals import Principal
from backend.services.users import DELETED_REASON


@dataclass(frozen=True, slots=True)
class CreatedUser:
    user: User
    invitation: IssuedInvitation | None


def add(
    db: Session,
    effects: Effects,
    actor: Principal,
    passwords: PasswordService,
    *,
    email: str,
    full_name: str,
    password: str | None,
) -> CreatedUser:
    """An admin creates a user with the built-in member role.

    With a password (the tenant's policy applies) the user can log in at once; without
    one, an invitation is made and its token returned, once. Either way the user is
    mailed once the transaction commits: the invitation link, or a link that verifies
    the email. The member role's scopes must be the actor's own (no escalation), as for
    any other grant.
    """
    tenant_id = actor.tenant_id
    member = db.scalars(
        select(Role).where(Role.tenant_id == tenant_id, Role.builtin, Role.name == MEMBER.name)
    ).one()
    require_within(
        authorization.acting_scopes(db, actor),
        roles.load_role_graph(db, tenant_id).expand([member.id]),
    )
    user = users.create_user(
        db, passwords, tenant_id=tenant_id, email=email, password=password, full_name=full_name
    )
    users.grant_role(
        db, tenant_id=tenant_id, user_id=user.id, role_id=member.id, granted_by=actor.user_id
    )
    invitation = None
    if password is None:
        invitation = invitations.issue(
            db, tenant_id=tenant_id, user_id=user.id, created_by=actor.user_id
        )
        invitations.send(db, effects, user, invitation)
    else:
        email_verification.send(db, effects, user)
    audit.record_by(
        db,
        actor,
        "user.created",
        f"user:{user.id}",
        {
            "after": {"email": user.email, "full_name": user.full_name, "status": "active"},
            "roles": [MEMBER.name],
            "invited": invitation is not None,
        },
    )
    return CreatedUser(user=user, invitation=invitation)


def update(
    db: Session,
    effects: Effects,
    actor: Principal,
    user_id: uuid.UUID,
    *,
    email: str | None = None,
    full_name: str | None = None,
) -> User:
    """Change a user's email (unique per tenant, case-insensitively) and/or full name."""
    user = users.get(db, actor.tenant_id, user_id, for_update=True)
    users.require_not_deleted(user)
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    if full_name is not None and full_name != user.full_name:
        before["full_name"], after["full_name"] = user.full_name, full_name
        user.full_name = full_name
    if email is not None and email.strip() != user.email:
        email = email.strip()
        holder = users.find_by_email(db, actor.tenant_id, email)
        if holder is not None and holder.id != user.id:
            raise ConflictError(users.taken(email))
        before["email"], after["email"] = user.email, email
        with users.unique_email(db, email):
            user.email = email
            # A new address is unverified until its owner follows the link mailed to it.
            user.email_verified_at = None
        email_verification.send(db, effects, user)
    if after:
        audit.record_by(
            db, actor, "user.updated", f"user:{user.id}", {"before": before, "after": after}
        )
        cutoff.profiles(db, effects, actor.tenant_id)
    return user


def disable(
    db: Session,
    effects: Effects,
    actor: Principal,
    user_id: uuid.UUID,
    *,
    reason: str | None = None,
) -> User:
    """Disable a user now: their tokens and API keys stop working at once. Refused (409)
    for the tenant's last active owner. Disabling a disabled user changes nothing."""
    user = users.get(db, actor.tenant_id, user_id)
    if user.status is UserStatus.DISABLED:
        return user
    owners.require_another_owner(db, actor.tenant_id, user.id)
    # Checked again under the row's lock: of concurrent disables, one acts and audits.
    if users.get(db, actor.tenant_id, user_id, for_update=True).status is UserStatus.DISABLED:
        return user
    set_status(db, effects, actor.tenant_id, user.id, UserStatus.DISABLED, reason=reason)
    audit.record_by(
        db,
        actor,
        "user.disabled",
        f"user:{user.id}",
        {"reason": reason, "before": {"status": "active"}, "after": {"status": "disabled"}},
    )
    return user


def enable(db: Session, effects: Effects, actor: Principal, user_id: uuid.UUID) -> User:
    """Re-enable a disabled user; a deleted user stays deleted (409)."""
    user = users.get(db, actor.tenant_id, user_id, for_update=True)
    if user.status is UserStatus.ACTIVE:
        return user
    users.require_not_deleted(user)
    before = {"status": "disabled", "disabled_reason": user.disabled_reason}
    set_status(db, effects, actor.tenant_id, user.id, UserStatus.ACTIVE)
    audit.record_by(
        db,
        actor,
        "user.enabled",
        f"user:{user.id}",
        {"before": before, "after": {"status": "active"}},
    )
    return user


def delete(db: Session, effects: Effects, actor: Principal, user_id: uuid.UUID) -> None:
    """Soft-delete: disable, anonymise the email, clear the name, remove the password,
    end every session. The row and the audit log stay. Refused (409) for the last
    active owner; deleting a deleted user changes nothing.

    The deletion event names the fields it erased, not their values: copying them into
    the append-only log would defeat the erasure.
    """
    user = users.get(db, actor.tenant_id, user_id)
    if users.is_deleted(user):
        return
    owners.require_another_owner(db, actor.tenant_id, user.id)
    # Checked again under the row's lock: of concurrent deletes, one acts and audits.
    if users.is_deleted(users.get(db, actor.tenant_id, user_id, for_update=True)):
        return
    now = datetime.now(UTC)
    before_status = user.status.value
    user.status = UserStatus.DISABLED
    user.disabled_at = now
    user.disabled_reason = DELETED_REASON
    user.email = users.deleted_email(user.id)
    user.full_name = ""
    user.password_hash = None
    db.flush()
    cutoff.users(db, effects, actor.tenant_id, [user.id], reason=cutoff.Reason.DELETED)
    live = sessions.live_sessions(db, actor.tenant_id, user.id, now)
    for session in live:
        sessions.revoke_session(db, session, reason="user_deleted", now=now)
    audit.record_by(
        db,
        actor,
        "user.deleted",
        f"user:{user.id}",
        {
            "before": {"status": before_status},
            "after": {"status": "disabled"},
            "erased": ["email", "full_name", "password"],
            "sessions_revoked": len(live),
        },
    )


def unlock(db: Session, actor: Principal, user_id: uuid.UUID) -> User:
    """Lift a user's lockout: the count of wrong passwords and any pause or lock go, so
    the right password logs in again at once. The user's sessions were never touched.

    Unlocking a user with nothing to clear changes nothing and audits nothing; the row
    is locked first, so of concurrent unlocks exactly one clears and audits. A deleted
    user cannot be unlocked (409).
    """
    user = db.get(User, (actor.tenant_id, user_id), with_for_update=True, populate_existing=True)
    if user is None:
        raise NotFoundError("user")
    users.require_not_deleted(user)
    before = lockout.lift(user)
    if before is not None:
        db.flush()
        audit.record_by(
            db,
            actor,
            "user.unlocked",
            f"user:{user.id}",
            {"before": before, "after": {"failed_logins": 0, "locked_until": None}},
        )
    return user


def set_status(
    db: Session,
    effects: Effects,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    status: UserStatus,
    *,
    reason: str | None = None,
) -> None:
    """Disable or re-enable a user; either ends the access tokens they hold at once (a
    token from before a disable stays dead after the enable)."""
    user = db.get(User, (tenant_id, user_id))
    if user is None:
        raise NotFoundError("user")
    user.status = status
    if status is UserStatus.DISABLED:
        user.disabled_at = datetime.now(UTC)
        user.disabled_reason = reason
    else:
        user.disabled_at = None
        user.disabled_reason = None
    db.flush()
    why = cutoff.Reason.DISABLED if status is UserStatus.DISABLED else cutoff.Reason.ENABLED
    cutoff.users(db, effects, tenant_id, [user_id], reason=why)
