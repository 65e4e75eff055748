"""Users of the principal's tenant (scopes users:read, users:write, users:disable)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.api.deps import (
    AppEffects,
    AppRuntime,
    DbSession,
    UsersDisable,
    UsersRead,
    UsersWrite,
    in_thread,
)
from backend.api.pagination import Cursor, Keyset, Limit
from backend.api.schemas.errors import (
    BAD_CURSOR,
    CONFLICT,
    FORBIDDEN,
    GUARDED_RESPONSES,
    NOT_FOUND,
)
from backend.api.schemas.text import Text
from backend.api.schemas.users import (
    InvitationOut,
    UserCreate,
    UserCreated,
    UserDisable,
    UserOut,
    UserPage,
    UserUpdate,
)
from backend.db.models import UserStatus
from backend.services import user_admin, user_listing, users
from backend.services.user_listing import UserFilter

router = APIRouter(prefix="/users", tags=["users"])

# The key's email is the stored lower(email).
USERS = Keyset("users", (("email", str), ("id", uuid.UUID)))


@router.get("", response_model=UserPage, responses={**GUARDED_RESPONSES, **BAD_CURSOR})
async def list_users(
    principal: UsersRead,
    db: DbSession,
    status: UserStatus | None = None,
    email_prefix: Annotated[
        Text | None, Query(max_length=320, description="Case-insensitive")
    ] = None,
    role_id: Annotated[
        uuid.UUID | None, Query(description="Holders of an unexpired direct grant")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> UserPage:
    """The tenant's users by email, a page at a time; pass `next_cursor` back for more."""
    after = USERS.key(cursor)
    filters = UserFilter(status=status, email_prefix=email_prefix, role_id=role_id)
    # Async, so that the page is validated and serialised on the event loop: the query
    # and the end of its transaction are the request's only thread hop after the guard.
    page = await in_thread(
        db,
        lambda: user_listing.list_users(db, principal.tenant_id, filters, after=after, limit=limit),
    )
    # The listing's columns are named as UserOut's fields (plus its sort key, which
    # validation ignores): dicts by name, then one validation of the whole page in
    # pydantic's core, far cheaper than a model per row or reading row attributes.
    names = page.items[0]._fields if page.items else ()
    items = [dict(zip(names, row, strict=True)) for row in page.items]
    return UserPage.model_validate({"items": items, "next_cursor": USERS.cursor(page.next_key)})


@router.post(
    "",
    status_code=201,
    response_model=UserCreated,
    responses={**GUARDED_RESPONSES, **FORBIDDEN, **CONFLICT},
)
def create_user(
    body: UserCreate, principal: UsersWrite, db: DbSession, runtime: AppRuntime
) -> UserCreated:
    """Create a user with the member role: with a password (the tenant's policy applies,
    422 with the reason otherwise) or invited (`invite: true`), in which case the
    invitation token is in the response, this once. An email taken in the tenant,
    whatever its case, is 409."""
    created = user_admin.add(
        db,
        runtime.effects,
        principal,
        runtime.passwords,
        email=body.email,
        full_name=body.full_name,
        password=body.password.get_secret_value() if body.password is not None else None,
    )
    db.refresh(created.user)
    invitation = created.invitation
    return UserCreated(
        **UserOut.of(created.user).model_dump(),
        invitation=(
            InvitationOut(token=invitation.token, expires_at=invitation.expires_at)
            if invitation is not None
            else None
        ),
    )


@router.get("/{id}", response_model=UserOut, responses={**GUARDED_RESPONSES, **NOT_FOUND})
def get_user(id: uuid.UUID, principal: UsersRead, db: DbSession) -> UserOut:
    """One user of your tenant."""
    return UserOut.of(users.get(db, principal.tenant_id, id))


@router.patch(
    "/{id}", response_model=UserOut, responses={**GUARDED_RESPONSES, **NOT_FOUND, **CONFLICT}
)
def update_user(
    id: uuid.UUID, body: UserUpdate, principal: UsersWrite, db: DbSession, effects: AppEffects
) -> UserOut:
    """Change the email (409 if another user of the tenant has it, in any case) and/or
    the full name. A deleted user cannot be changed (409)."""
    user = user_admin.update(db, effects, principal, id, email=body.email, full_name=body.full_name)
    return UserOut.of(user)


@router.post(
    "/{id}/disable",
    response_model=UserOut,
    responses={**GUARDED_RESPONSES, **NOT_FOUND, **CONFLICT},
)
def disable_user(
    id: uuid.UUID,
    principal: UsersDisable,
    db: DbSession,
    effects: AppEffects,
    body: UserDisable | None = None,
) -> UserOut:
    """Disable a user now: their access tokens, sessions and API keys stop working at
    once. The tenant's last active owner cannot be disabled (409)."""
    reason = body.reason if body is not None else None
    return UserOut.of(user_admin.disable(db, effects, principal, id, reason=reason))


@router.post(
    "/{id}/enable",
    response_model=UserOut,
    responses={**GUARDED_RESPONSES, **NOT_FOUND, **CONFLICT},
)
def enable_user(
    id: uuid.UUID, principal: UsersDisable, db: DbSession, effects: AppEffects
) -> UserOut:
    """Re-enable a disabled user (a deleted one cannot be, 409)."""
    return UserOut.of(user_admin.enable(db, effects, principal, id))


@router.post(
    "/{id}/unlock",
    response_model=UserOut,
    responses={**GUARDED_RESPONSES, **NOT_FOUND, **CONFLICT},
)
def unlock_user(id: uuid.UUID, principal: UsersDisable, db: DbSession) -> UserOut:
    """Lift a lockout: clear the user's count of wrong passwords and any pause or lock,
    so the right password logs in again at once. A user with nothing to clear is
    answered as is, with no audit event; a deleted user cannot be unlocked (409)."""
    return UserOut.of(user_admin.unlock(db, principal, id))


@router.delete("/{id}", status_code=204, responses={**GUARDED_RESPONSES, **NOT_FOUND, **CONFLICT})
def delete_user(
    id: uuid.UUID, principal: UsersWrite, db: DbSession, effects: AppEffects
) -> Response:
    """Delete a user: disabled for good, email anonymised, name and password erased,
    sessions ended; the audit log keeps their history. The tenant's last active owner
    cannot be deleted (409)."""
    user_admin.delete(db, effects, principal, id)
    return Response(status_code=204)
