"""A tenant where an owner grants roles to a member: the arrangement of the grant tests."""

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from backend.db.models import Role, Tenant, User
from backend.domain.scopes import TENANT_SCOPES
from tests.conftest import builtin_role
from tests.factories import TenantFactory, UserFactory


@dataclass(frozen=True)
class Granting:
    tenant: Tenant
    # Every tenant scope, for the owner.
    owner_token: str
    # ann@acme.test, a member.
    user: User
    # `me`, for the member.
    user_token: str
    auditor: Role


def granting(db: Session, issue_token: Callable[..., str]) -> Granting:
    """Tenant `acme` with an owner and the member ann@acme.test (committed)."""
    tenant = TenantFactory(slug="acme")
    owner = UserFactory(
        tenant=tenant, email="owner@acme.test", roles=[builtin_role(db, tenant, "owner")]
    )
    user = UserFactory(
        tenant=tenant, email="ann@acme.test", roles=[builtin_role(db, tenant, "member")]
    )
    db.commit()
    return Granting(
        tenant=tenant,
        owner_token=issue_token(owner, sorted(TENANT_SCOPES)),
        user=user,
        user_token=issue_token(user, ["me"]),
        auditor=builtin_role(db, tenant, "auditor"),
    )
