"""The projects service's migrations: as the owner role, then the application role's grants."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.pool import NullPool

from examples.projects.db import metadata
from examples.projects.settings import ProjectsSettings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Tests hand in their own settings; everything else reads PROJECTS_* from the environment.
settings: ProjectsSettings = config.attributes.get("settings") or ProjectsSettings.from_environ()


def grant_application_role(connection: Connection) -> None:
    """Create the application role if missing; grant it DML on the tables, and no more.

    Row-level security does not bind a table's owner, so the service must not connect
    as the owner: with both URLs naming one role, isolation would rest on WHERE clauses.
    """
    app_url = make_url(settings.database_url)
    role = app_url.username
    if not role or role == make_url(settings.migration_database_url).username:
        raise SystemExit("PROJECTS_DATABASE_URL must name a role other than the owner's")
    quoted = connection.dialect.identifier_preparer.quote(role)
    if not connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}):
        # Roles are cluster-wide: migrations of several databases at once may race to
        # create it, and losing that race is no error.
        try:
            with connection.begin_nested():
                connection.execute(text(f"CREATE ROLE {quoted} LOGIN NOSUPERUSER NOBYPASSRLS"))
        except (IntegrityError, ProgrammingError):
            pass
        else:
            if app_url.password:
                # ALTER ROLE takes no bind parameters; format() quotes the literal.
                password = connection.scalar(
                    text("SELECT format('%L', CAST(:p AS text))"), {"p": app_url.password}
                )
                connection.execute(text(f"ALTER ROLE {quoted} PASSWORD {password}"))
    database = connection.dialect.identifier_preparer.quote(str(app_url.database))
    connection.execute(text(f"GRANT CONNECT ON DATABASE {database} TO {quoted}"))
    connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {quoted}"))
    # Every table there is now (none after a downgrade to base), but not Alembic's own.
    connection.execute(
        text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}")
    )
    connection.execute(text(f"REVOKE ALL ON TABLE alembic_version FROM {quoted}"))


def run_migrations_online() -> None:
    engine = create_engine(settings.migration_database_url, poolclass=NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
            grant_application_role(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported")
run_migrations_online()
