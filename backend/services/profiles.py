"""A user's profile, as GET /me shows it: the user, their tenant, and what they hold."""

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Tenant, User
from backend.domain.errors import NotFoundError
from backend.services import roles


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
