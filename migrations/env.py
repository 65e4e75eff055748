"""Alembic environment: runs as the owner role, then grants the application role its rights."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from backend.db.app_role import grant_application_role
from backend.db.base import Base
from backend.db.models import __all__ as _models  # noqa: F401  (registers every table)
from backend.settings import Settings, get_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Tests hand in their own settings; everything else reads TESSERA_* from the environment.
settings: Settings = config.attributes.get("settings") or get_settings()


def run_migrations_online() -> None:
    engine = create_engine(settings.owner_database_url, poolclass=NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            grant_application_role(connection, settings)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: Tessera needs a live database")
run_migrations_online()
