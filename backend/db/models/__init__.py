"""All models, imported here so Alembic and the mapper registry see every table."""

from backend.db.models.roles import Role, RoleInclude, RoleScope, UserRole
from backend.db.models.tenants import Tenant, TenantStatus
from backend.db.models.users import User, UserStatus

__all__ = [
    "Role",
    "RoleInclude",
    "RoleScope",
    "Tenant",
    "TenantStatus",
    "User",
    "UserRole",
    "UserStatus",
]
