"""One migrated database per test worker, and a fast reset between tests."""

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from backend.db.base import Base
from backend.settings import PROJECT_ROOT, Settings

# The application's role in tests: created by the migrations, owns nothing.
APP_ROLE = "tessera_app"
APP_PASSWORD = "tessera_app"


def database_urls(admin_url: str, name: str) -> tuple[str, str]:
    """(owner URL, application URL) for database `name` on the admin URL's server."""
    admin = make_url(admin_url)
    owner = admin.set(database=name)
    app = admin.set(username=APP_ROLE, password=APP_PASSWORD, database=name)
    return (
        owner.render_as_string(hide_password=False),
        app.render_as_string(hide_password=False),
    )


def _administer(admin_url: str, *statements: str) -> None:
    # CREATE and DROP DATABASE refuse to run inside a transaction block.
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


def recreate_database(admin_url: str, name: str) -> None:
    """A new, empty database `name`. Its commits do not wait for the disk: a test database
    never outlives a crash of its server, and a commit is visible to every other session
    all the same; waiting for the flush was most of a small transaction's time."""
    _administer(
        admin_url,
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        f'CREATE DATABASE "{name}"',
        f'ALTER DATABASE "{name}" SET synchronous_commit = off',
    )


def drop_database(admin_url: str, name: str) -> None:
    _administer(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def alembic_config(settings: Settings) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["settings"] = settings
    config.attributes["configure_logger"] = False
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)


def empty_all(owner_engine: Engine) -> None:
    """Empty every table, so no test sees another's rows.

    DELETE, children first, rather than TRUNCATE: the tables hold a few rows between
    tests, and TRUNCATE's new files and locks cost several times as much per table.
    """
    with owner_engine.begin() as connection:
        # Under forced row-level security, an owner that is not a superuser would see no
        # rows and delete none; with row_security off it is an error instead.
        connection.execute(text("SET LOCAL row_security = off"))
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(text(f'DELETE FROM "{table.name}"'))
