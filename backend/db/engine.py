"""Engines and session factories built from settings, one per process."""

from dataclasses import dataclass

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

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
            # A connection killed by a database restart is replaced, not handed out.
            pool_pre_ping=True,
            pool_timeout=5,
            connect_args={"connect_timeout": 5, "application_name": "tessera"},
        )
        return cls(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))

    def dispose(self) -> None:
        self.engine.dispose()
