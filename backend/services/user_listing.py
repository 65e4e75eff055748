"""The admin's listing of a tenant's users: filters, and a keyset over the email."""

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session

from backend.db.models import Grant, User, UserStatus
from backend.domain.emails import MAX_EMAIL_LENGTH
from backend.services.paging import Page, page_of
from backend.services.users import deleted_clause

UserKey = tuple[str, uuid.UUID]


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
    deleted_clause().label("deleted"),
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
        values["email_prefix"] = filters.email_prefix
        values["beyond_prefix"] = BEYOND_ANY_EMAIL
    if filters.role_id is not None:
        values["role_id"] = filters.role_id
        values["now"] = datetime.now(UTC)
    if after is not None:
        # The key's id is redundant while email_lower is unique; cursors carry it so
        # that the order could gain a tie-break without changing their format.
        values["after"] = after[0]
    rows = db.execute(query, values).all()
    # The key is PostgreSQL's lower(), not Python's: the two differ on some characters.
    return page_of(rows, limit, lambda row: (row.email_lower, row.id))


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
        # A range on the stored email_lower, not ILIKE: LIKE is not leakproof, so under
        # row-level security PostgreSQL filtered the tenant's rows one by one with it.
        # lower() of the parameter is PostgreSQL's, as email_lower's is.
        low = func.lower(bindparam("email_prefix"))
        query = query.where(
            User.email_lower >= low,
            User.email_lower < low.op("||")(bindparam("beyond_prefix")),
        )
    if role:
        query = query.where(
            exists().where(
                Grant.tenant_id == User.tenant_id,
                Grant.user_id == User.id,
                Grant.role_id == bindparam("role_id"),
                or_(Grant.expires_at.is_(None), Grant.expires_at > bindparam("now")),
            )
        )
    if after:
        query = query.where(User.email_lower > bindparam("after"))
    return query.order_by(User.email_lower).limit(bindparam("limit"))


# Appended to a prefix, a string greater than the prefix followed by any stored email:
# email_lower is compared by code point (collation "C"), and what follows the prefix is
# shorter than this run of the greatest code point. So [prefix, prefix + this) holds
# exactly the emails that start with the prefix.
BEYOND_ANY_EMAIL = chr(0x10FFFF) * (MAX_EMAIL_LENGTH + 1)
