"""Users of a tenant: lookup, the admin's create, edit, disable and delete, and profiles.

Every admin change is audited with the before and after of what it changed. Deleting
is soft: the row stays (the audit log and grants refer to it), disabled, with its
personal data and password removed and its sessions ended.
"""

import functools
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session

from backend.db.models import Role, Tenant, User, UserRole, UserStatus
from backend.domain.errors import ConflictError, NotFoundError
from backend.domain.policy import require_within
from backend.domain.roles import MEMBER
from backend.security.passwords import PasswordService
from backend.services import (
    audit,
    concurrency,
    credentials,
    cutoff,
    invitations,
    lockout,
    owners,
    principals,
    refresh_tokens,
    roles,
)
from backend.services.effects import Effects
from backend.services.invitations import IssuedInvitation
from backend.services.paging import Page
from backend.services.principals import Principal

DELETED_REASON = "deleted"
# A deleted user's email becomes prefix + id + suffix (see deleted_email).
_DELETED_PREFIX, _DELETED_SUFFIX = "deleted-", "@invalid"
UserKey = tuple[str, uuid.UUID]


def find_by_email(db: Session, tenant_id: uuid.UUID, email: str) -> User | None:
    """Case-insensitive lookup, served by the (tenant_id, email_lower) unique index."""
    return db.scalar(
        select(User).where(User.tenant_id == tenant_id, User.email_lower == func.lower(email))
    )


def create_user(
    db: Session,
    passwords: PasswordService,
    *,
    tenant_id: uuid.UUID,
    email: str,
    password: str | None,
    full_name: str = "",
) -> User:
    """Create an active user after checking email uniqueness and the tenant's password
    policy. Without a password the user cannot log in until they accept an invitation."""
    email = email.strip()
    if password is not None:
        credentials.check_new_password(db, tenant_id, password)
    _require_free_email(db, tenant_id, email)
    user = User(
        tenant_id=tenant_id,
        id=uuid.uuid4(),
        email=email,
        full_name=full_name,
        password_hash=passwords.hash(password) if password is not None else None,
    )
    with _unique_email(db, email):
        db.add(user)
    return user


def grant_role(
    db: Session,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    role_id: uuid.UUID,
    granted_by: uuid.UUID | None = None,
    expires_at: datetime | None = None,
) -> UserRole:
    grant = UserRole(
        tenant_id=tenant_id,
        user_id=user_id,
        role_id=role_id,
        granted_by=granted_by,
        expires_at=expires_at,
    )
    db.add(grant)
    db.flush()
    return grant


@dataclass(frozen=True, slots=True)
class UserFilter:
    status: UserStatus | None = None
    email_prefix: str | None = None
    # Users holding an unexpired direct grant of this role.
    role_id: uuid.UUID | None = None


# What a listing shows of each user, read as plain rows: no ORM entities to build,
# track and expire, and no password hash on the wire, only whether there is one.
_LISTED = (
    User.id,
    User.email,
    User.full_name,
    User.status,
    User.disabled_at,
    User.disabled_reason,
    User.locked_until,
    User.failed_logins,
    User.last_login_at,
    User.created_at,
    User.password_hash.is_not(None).label("password_set"),
    # is_deleted(), in SQL.
    (
        (User.status == UserStatus.DISABLED)
        & (User.email == func.concat(_DELETED_PREFIX, User.id, _DELETED_SUFFIX))
    ).label("deleted"),
    # The sort key, for the cursor; last, after the fields UserOut shows.
    User.email_lower,
)
# Its fields are named as UserOut's: rows validate into it attribute by attribute.
ListedUser = Row[*tuple[Any, ...]]
ListingQuery = Select[*tuple[Any, ...]]


def list_users(
    db: Session, tenant_id: uuid.UUID, filters: UserFilter, *, after: UserKey | None, limit: int
) -> Page[ListedUser, UserKey]:
    """A page of users ordered by email, case-insensitively, starting after the key `after`.

    The order is `email_lower` (code point order of lower(email)): unique per tenant, so
    it is total, and the same as ordering by (email_lower, id). The keyset compares the
    stored column, which row-level security lets PostgreSQL use as an index condition:
    any page costs one short index range scan, however deep.
    """
    query = _page_query(
        status=filters.status is not None,
        email_prefix=bool(filters.email_prefix),
        role=filters.role_id is not None,
        after=after is not None,
    )
    values: dict[str, Any] = {"tenant_id": tenant_id, "limit": limit + 1}
    if filters.status is not None:
        values["status"] = filters.status
    if filters.email_prefix:
        values["email_prefix"] = _like_literal(filters.email_prefix)
    if filters.role_id is not None:
        values["role_id"] = filters.role_id
        values["now"] = datetime.now(UTC)
    if after is not None:
        # The key's id is redundant while email_lower is unique; cursors carry it so
        # that the order could gain a tie-break without changing their format.
        values["after"] = after[0]
    rows = db.execute(query, values).all()
    kept = list(rows[:limit])
    # The key is PostgreSQL's lower(), not Python's: the two differ on some characters.
    next_key = (kept[-1].email_lower, kept[-1].id) if len(rows) > limit else None
    return Page(items=kept, next_key=next_key)


@functools.cache
def _page_query(*, status: bool, email_prefix: bool, role: bool, after: bool) -> ListingQuery:
    """The listing's statement for one combination of filters, values left as parameters.

    Built once per combination: SQLAlchemy memoises a statement's cache key, which it
    would otherwise compute again on every request by walking the whole statement.
    """
    query = select(*_LISTED).where(User.tenant_id == bindparam("tenant_id"))
    if status:
        query = query.where(User.status == bindparam("status", type_=User.status.type))
    if email_prefix:
        query = query.where(User.email.istartswith(bindparam("email_prefix"), escape="/"))
    if role:
        query = query.where(
            exists().where(
                UserRole.tenant_id == User.tenant_id,
                UserRole.user_id == User.id,
                UserRole.role_id == bindparam("role_id"),
                or_(UserRole.expires_at.is_(None), UserRole.expires_at > bindparam("now")),
            )
        )
    if after:
        query = query.where(User.email_lower > bindparam("after"))
    return query.order_by(User.email_lower).limit(bindparam("limit"))


def _like_literal(text: str) -> str:
    """`text` matched literally by LIKE ... ESCAPE '/': its `%` and `_` are characters."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def get(db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, *, for_update: bool = False) -> User:
    """One user; NotFoundError if there is none.

    With `for_update`, read afresh and locked until the transaction ends: a change that
    checks the user's state first makes concurrent changes of that user wait, and then
    see what the first one left (so only one of them acts and audits).
    """
    user = db.get(
        User, (tenant_id, user_id), with_for_update=for_update, populate_existing=for_update
    )
    if user is None:
        raise NotFoundError("user")
    return user


@dataclass(frozen=True, slots=True)
class CreatedUser:
    user: User
    invitation: IssuedInvitation | None


def add(
    db: Session,
    actor: Principal,
    passwords: PasswordService,
    *,
    email: str,
    full_name: str,
    password: str | None,
) -> CreatedUser:
    """An admin creates a user with the built-in member role.

    With a password (the tenant's policy applies) the user can log in at once; without
    one, an invitation is made and its token returned, once. The member role's scopes
    must be the actor's own (no escalation), as for any other grant.
    """
    tenant_id = actor.tenant_id
    member = db.scalars(
        select(Role).where(Role.tenant_id == tenant_id, Role.builtin, Role.name == MEMBER.name)
    ).one()
    require_within(
        principals.acting_scopes(db, actor),
        roles.load_role_graph(db, tenant_id).expand([member.id]),
    )
    user = create_user(
        db, passwords, tenant_id=tenant_id, email=email, password=password, full_name=full_name
    )
    grant_role(
        db, tenant_id=tenant_id, user_id=user.id, role_id=member.id, granted_by=actor.user_id
    )
    invitation = (
        None
        if password is not None
        else invitations.issue(db, tenant_id=tenant_id, user_id=user.id, created_by=actor.user_id)
    )
    _audit(
        db,
        actor,
        "user.created",
        user,
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
    user = get(db, actor.tenant_id, user_id, for_update=True)
    _require_not_deleted(user)
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    if full_name is not None and full_name != user.full_name:
        before["full_name"], after["full_name"] = user.full_name, full_name
        user.full_name = full_name
    if email is not None and email.strip() != user.email:
        email = email.strip()
        holder = find_by_email(db, actor.tenant_id, email)
        if holder is not None and holder.id != user.id:
            raise ConflictError(_taken(email))
        before["email"], after["email"] = user.email, email
        with _unique_email(db, email):
            user.email = email
    if after:
        _audit(db, actor, "user.updated", user, {"before": before, "after": after})
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
    user = get(db, actor.tenant_id, user_id)
    if user.status is UserStatus.DISABLED:
        return user
    owners.require_another_owner(db, actor.tenant_id, user.id)
    # Checked again under the row's lock: of concurrent disables, one acts and audits.
    if get(db, actor.tenant_id, user_id, for_update=True).status is UserStatus.DISABLED:
        return user
    set_status(db, effects, actor.tenant_id, user.id, UserStatus.DISABLED, reason=reason)
    _audit(
        db,
        actor,
        "user.disabled",
        user,
        {"reason": reason, "before": {"status": "active"}, "after": {"status": "disabled"}},
    )
    return user


def enable(db: Session, effects: Effects, actor: Principal, user_id: uuid.UUID) -> User:
    """Re-enable a disabled user; a deleted user stays deleted (409)."""
    user = get(db, actor.tenant_id, user_id, for_update=True)
    if user.status is UserStatus.ACTIVE:
        return user
    _require_not_deleted(user)
    before = {"status": "disabled", "disabled_reason": user.disabled_reason}
    set_status(db, effects, actor.tenant_id, user.id, UserStatus.ACTIVE)
    _audit(db, actor, "user.enabled", user, {"before": before, "after": {"status": "active"}})
    return user


def delete(db: Session, effects: Effects, actor: Principal, user_id: uuid.UUID) -> None:
    """Soft-delete: disable, anonymise the email, clear the name, remove the password,
    end every session. The row and the audit log stay. Refused (409) for the last
    active owner; deleting a deleted user changes nothing.

    The deletion event names the fields it erased, not their values: copying them into
    the append-only log would defeat the erasure.
    """
    user = get(db, actor.tenant_id, user_id)
    if is_deleted(user):
        return
    owners.require_another_owner(db, actor.tenant_id, user.id)
    # Checked again under the row's lock: of concurrent deletes, one acts and audits.
    if is_deleted(get(db, actor.tenant_id, user_id, for_update=True)):
        return
    now = datetime.now(UTC)
    before_status = user.status.value
    user.status = UserStatus.DISABLED
    user.disabled_at = now
    user.disabled_reason = DELETED_REASON
    user.email = deleted_email(user.id)
    user.full_name = ""
    user.password_hash = None
    db.flush()
    cutoff.users(db, effects, actor.tenant_id, [user.id], reason=cutoff.Reason.DELETED)
    sessions = refresh_tokens.live_families(db, actor.tenant_id, user.id, now)
    for family in sessions:
        refresh_tokens.revoke_family(db, family, reason="user_deleted", now=now)
    _audit(
        db,
        actor,
        "user.deleted",
        user,
        {
            "before": {"status": before_status},
            "after": {"status": "disabled"},
            "erased": ["email", "full_name", "password"],
            "sessions_revoked": len(sessions),
        },
    )


def deleted_email(user_id: uuid.UUID) -> str:
    """The placeholder a deleted user's email becomes: unique, and never deliverable
    (`.invalid` is reserved, RFC 2606), and refused by the API's email check."""
    return f"{_DELETED_PREFIX}{user_id}{_DELETED_SUFFIX}"


def is_deleted(user: User) -> bool:
    return user.status is UserStatus.DISABLED and user.email == deleted_email(user.id)


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
    _require_not_deleted(user)
    before = lockout.lift(user)
    if before is not None:
        db.flush()
        _audit(
            db,
            actor,
            "user.unlocked",
            user,
            {"before": before, "after": {"failed_logins": 0, "locked_until": None}},
        )
    return user


@dataclass(frozen=True, slots=True)
class Profile:
    user: User
    tenant: Tenant
    holding: roles.Holding


def get_profile(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, *, platform: bool
) -> Profile:
    """A user with their tenant, directly granted roles, effective scopes and their chains
    (platform scopes among them only if `platform`: the tenant is the platform tenant)."""
    row = db.execute(
        select(User, Tenant)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(User.tenant_id == tenant_id, User.id == user_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError("user")
    user, tenant = row
    return Profile(
        user=user, tenant=tenant, holding=roles.holding(db, tenant_id, user_id, platform=platform)
    )


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
    reason = cutoff.Reason.DISABLED if status is UserStatus.DISABLED else cutoff.Reason.ENABLED
    cutoff.users(db, effects, tenant_id, [user_id], reason=reason)


def _require_free_email(db: Session, tenant_id: uuid.UUID, email: str) -> None:
    if find_by_email(db, tenant_id, email) is not None:
        raise ConflictError(_taken(email))


def _unique_email(db: Session, email: str) -> AbstractContextManager[None]:
    """A concurrent request that took the email since our check makes the unique index
    refuse the row: that is a 409, not a 500."""
    return concurrency.unique(db, "uq_users_tenant_id_email_lower", _taken(email))


def _require_not_deleted(user: User) -> None:
    if is_deleted(user):
        raise ConflictError("this user has been deleted")


def _taken(email: str) -> str:
    return f"a user with email {email!r} already exists in this tenant"


def _audit(db: Session, actor: Principal, action: str, user: User, data: dict[str, Any]) -> None:
    audit.record(
        db,
        tenant_id=actor.tenant_id,
        actor=actor.actor,
        action=action,
        target=f"user:{user.id}",
        data=data,
    )
