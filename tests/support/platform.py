"""The platform tenant and an operator, made as `tessera create-platform-admin` does; and
`tessera apis apply` as the CLI runs it."""

from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import User
from backend.db.session import unit_of_work
from backend.db.tenant_context import enter_platform
from backend.domain.api_manifest import ApiSpec
from backend.security.passwords import PasswordService
from backend.services import api_apply, apis, platform_admins, tenants
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


def apply_apis(
    sessions: sessionmaker[Session],
    effects: Effects,
    settings: Settings,
    specs: list[ApiSpec],
    *,
    cascade: bool,
) -> None:
    """`tessera apis apply` of `specs` (no pruning), in a transaction of its own."""
    with unit_of_work(sessions) as db:
        platform = tenants.enter_by_slug(db, settings.platform_tenant_slug)
        assert platform is not None
        enter_platform(db)
        operator = apis.Operator(tenant_id=platform.id, actor="system:test")
        api_apply.apply(
            db, effects, operator, settings.jwt_audience, specs, prune=False, cascade=cascade
        )
