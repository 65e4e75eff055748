"""Users of a tenant: the lookups and rules every use case about users shares.

Finding a user (by id, by email), making one (the admin's create, a tenant's first
owner, the platform's operators), granting a role, and what a deleted user is. The
admin's changes are in user_admin, the listing in user_listing, GET /me in profiles.
"""

import uuid
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from backend.db.models import Grant, User, UserStatus
from backend.domain.errors import ConflictError, NotFoundError
from backend.security.passwords import PasswordService
from backend.services import concurrency, credentials

DELETED_REASON = "deleted"

# A deleted user's email becomes prefix + id + suffix (see deleted_email).
_DELETED_PREFIX, _DELETED_SUFFIX = "deleted-", "@invalid"


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
    with unique_email(db, email):
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
) -> Grant:
    grant = Grant(
        tenant_id=tenant_id,
        user_id=user_id,
        role_id=role_id,
        granted_by=granted_by,
        expires_at=expires_at,
    )
    db.add(grant)
    db.flush()
    return grant


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


def deleted_email(user_id: uuid.UUID) -> str:
    """The placeholder a deleted user's email becomes: unique, and never deliverable
    (`.invalid` is reserved, RFC 2606), and refused by the API's email check."""
    return f"{_DELETED_PREFIX}{user_id}{_DELETED_SUFFIX}"


def is_deleted(user: User) -> bool:
    return user.status is UserStatus.DISABLED and user.email == deleted_email(user.id)


def deleted_clause() -> ColumnElement[bool]:
    """is_deleted(), in SQL: for set-based reads of many users."""
    return (User.status == UserStatus.DISABLED) & (
        User.email == func.concat(_DELETED_PREFIX, User.id, _DELETED_SUFFIX)
    )


def require_not_deleted(user: User) -> None:
    if is_deleted(user):
        raise ConflictError("this user has been deleted")


def taken(email: str) -> str:
    """The refusal of an email another user of the tenant has."""
    return f"a user with email {email!r} already exists in this tenant"


def unique_email(db: Session, email: str) -> AbstractContextManager[None]:
    """Writes a user's email: a concurrent request that took the email since our check
    makes the unique index refuse the row, and that is a 409, not a 500."""
    return concurrency.unique(db, "uq_users_tenant_id_email_lower", taken(email))


def _require_free_email(db: Session, tenant_id: uuid.UUID, email: str) -> None:
    if find_by_email(db, tenant_id, email) is not None:
        raise ConflictError(taken(email))
