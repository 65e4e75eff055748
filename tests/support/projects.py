"""The projects example's own database: created, migrated by its own Alembic migrations,
and dropped, for its tests, the end-to-end tests and the bench."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from backend.settings import PROJECT_ROOT
from examples.projects.settings import ProjectsSettings
from tests.support.database import drop_database, recreate_database

PROJECT_DIR = PROJECT_ROOT / "examples" / "projects"
# The example's application role (its migrations create it), as make run names it.
APP_ROLE = "projects_app"


@contextmanager
def projects_database(admin_url: str, name: str, **options: Any) -> Iterator[ProjectsSettings]:
    """Settings for database `name`, migrated to head; `options` are the other settings."""
    recreate_database(admin_url, name)
    try:
        admin = make_url(admin_url)
        app = admin.set(username=APP_ROLE, password=APP_ROLE, database=name)
        settings = ProjectsSettings(
            database_url=app.render_as_string(hide_password=False),
            migration_database_url=admin.set(database=name).render_as_string(hide_password=False),
            **options,
        )
        config = Config(str(PROJECT_DIR / "alembic.ini"))
        config.attributes["settings"] = settings
        config.attributes["configure_logger"] = False
        command.upgrade(config, "head")
        yield settings
    finally:
        drop_database(admin_url, name)
