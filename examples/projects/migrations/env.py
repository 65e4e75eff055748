"""The projects service's migrations: as the owner role, then the application role's grants."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from examples.projects.db import metadata
from examples.projects.settings import ProjectsSettings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Tests hand in their own settings; everything else reads PROJECTS_* from the environment.
settings: ProjectsSettings = config.attributes.get("settings") or ProjectsSettings.from_environ()


# The application role, made if missing, granted DML on every table there is now (none
# after a downgrade to base) but not Alembic's own, and no more. CREATE ROLE has no IF NOT
# EXISTS: a role that exists, or that a migration of another database makes meanwhile
# (roles are cluster-wide), is the outcome wanted; the password applies to a role made
# here only, so one made beforehand keeps its own.
_ENSURE_ROLE = text(
    """
    DO $$
    DECLARE
        app_role text := current_setting('projects.app_role');
        app_password text := nullif(current_setting('projects.app_password'), '');
    BEGIN
        BEGIN
            EXECUTE format(
                'CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD %L', app_role, app_password
            );
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), app_role);
        EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', app_role);
        EXECUTE format(
            'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', app_role
        );
        EXECUTE format('REVOKE ALL ON TABLE alembic_version FROM %I', app_role);
    END
    $$
    """
)


def grant_application_role(connection: Connection) -> None:
    """Create the application role if missing; grant it DML on the tables, and no more.

    Row-level security does not bind a table's owner, so the service must not connect
    as the owner: with both URLs naming one role, isolation would rest on WHERE clauses.
    """
    app_url = make_url(settings.database_url)
    role = app_url.username
    if not role or role == make_url(settings.migration_database_url).username:
        raise SystemExit("PROJECTS_DATABASE_URL must name a role other than the owner's")
    # A DO block takes no parameters: they reach it as transaction-local settings.
    connection.execute(
        text(
            "SELECT set_config('projects.app_role', :role, true), "
            "set_config('projects.app_password', :password, true)"
        ),
        {"role": role, "password": app_url.password or ""},
    )
    connection.execute(_ENSURE_ROLE)


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
