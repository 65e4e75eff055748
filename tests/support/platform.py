"""The platform tenant and an operator, made as `tessera create-platform-admin` does."""

from sqlalchemy.orm import Session

from backend.db.models import User
from backend.security.passwords import PasswordService
from backend.services import platform_admins
from backend.services.effects import Effects
from backend.settings import Settings

OPERATOR_EMAIL = "ops@platform.test"


def create_operator(db: Session, effects: Effects, settings: Settings, password: str) -> User:
    """The platform tenant's first operator (the tenant made too if missing), committed."""
    created = platform_admins.create_platform_admin(
        db,
        effects,
        PasswordService(settings),
        platform_tenant_slug=settings.platform_tenant_slug,
        email=OPERATOR_EMAIL,
        password=password,
    )
    db.commit()
    return db.get_one(User, (created.tenant_id, created.user_id))
