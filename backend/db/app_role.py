"""The application's database role: can read and write rows, owns nothing.

Row-level security does not bind a table's owner or a superuser, so the API and the
worker connect as a separate role. Migrations (run as the owner) create it when it is
missing and grant it exactly the privileges it needs, every time they run, so tables
added later are covered too.
"""

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, ProgrammingError

from backend.settings import Settings


def grant_application_role(connection: Connection, settings: Settings) -> None:
    """Create the role named in TESSERA_DATABASE_URL if missing, and grant it DML rights.

    Does nothing when the application and the migrations use the same role (a
    development shortcut that forgoes row-level security).
    """
    app_url = make_url(settings.database_url)
    owner_url = make_url(settings.owner_database_url)
    role = app_url.username
    if not role or role == owner_url.username:
        return
    quoted = connection.dialect.identifier_preparer.quote(role)
    exists = connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
    if not exists:
        # Roles are cluster-wide: parallel migrations of several databases (one per test
        # worker) may race to create it, and losing that race is not an error.
        try:
            with connection.begin_nested():
                connection.execute(text(f"CREATE ROLE {quoted} LOGIN NOSUPERUSER NOBYPASSRLS"))
        except (IntegrityError, ProgrammingError):
            pass
        else:
            # The password (if any) comes from the URL; operators may instead create the
            # role beforehand with credentials of their choosing, which are left untouched.
            if app_url.password:
                connection.execute(
                    text(f"ALTER ROLE {quoted} PASSWORD {_literal(str(app_url.password))}")
                )
    database = connection.dialect.identifier_preparer.quote(str(owner_url.database))
    connection.execute(text(f"GRANT CONNECT ON DATABASE {database} TO {quoted}"))
    connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {quoted}"))
    connection.execute(
        text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}")
    )
    connection.execute(text(f"REVOKE ALL ON TABLE alembic_version FROM {quoted}"))
    # The audit log is append-only for the application: no code path, buggy or not,
    # can rewrite or erase it.
    if connection.scalar(text("SELECT to_regclass('public.audit_events')")) is not None:
        connection.execute(text(f"REVOKE UPDATE, DELETE ON TABLE audit_events FROM {quoted}"))
    connection.execute(text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {quoted}"))
    # Includes the SECURITY DEFINER login function, whose EXECUTE is revoked from PUBLIC.
    connection.execute(text(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {quoted}"))


def _literal(value: str) -> str:
    """A SQL string literal; ALTER ROLE ... PASSWORD takes no bind parameters."""
    return "'" + value.replace("'", "''") + "'"
