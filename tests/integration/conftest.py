"""Connections as the application itself makes them, for tests below the HTTP surface."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from backend.db.engine import Database
from backend.settings import Settings


@pytest.fixture
def app_engine(settings: Settings) -> Iterator[Engine]:
    """The application's own role, which row-level security binds, as the API connects."""
    engine = create_engine(settings.database_url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """The application role's sessions, as the worker uses them."""
    database = Database.from_settings(settings)
    yield database.sessions
    database.dispose()
