"""Engines and session factories built from settings, one per process."""

from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from backend.db.liveness import refuse_closed_connection
from backend.db.tenant_context import bind_pending_tenant
from backend.settings import Settings


@dataclass(frozen=True, slots=True)
class Database:
    """The application's connection pool and the factory for its sessions."""

    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def from_settings(cls, settings: Settings) -> "Database":
        engine = create_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_pool_size,
            pool_timeout=settings.database_pool_timeout_seconds,
            connect_args=_connect_args(settings),
            # SQL parameters (password hashes, emails) stay out of error messages and logs.
            hide_parameters=True,
        )
        # A connection killed by a database restart is replaced, not handed out.
        event.listen(engine, "checkout", refuse_closed_connection)
        sessions = sessionmaker(engine, expire_on_commit=False)
        event.listen(sessions, "after_begin", bind_pending_tenant)
        return cls(engine=engine, sessions=sessions)

    def dispose(self) -> None:
        self.engine.dispose()


def _connect_args(settings: Settings) -> dict[str, object]:
    args: dict[str, object] = {
        "connect_timeout": settings.database_connect_timeout_seconds,
        "application_name": "tessera",
    }
    if settings.database_statement_timeout_ms:
        # A runaway query fails (and its request answers) instead of holding a
        # connection and a worker thread indefinitely.
        args["options"] = f"-c statement_timeout={settings.database_statement_timeout_ms}"
    return args
