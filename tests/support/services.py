"""Where the suite finds PostgreSQL and Redis: configured, local, or embedded.

Order: TESSERA_TEST_DATABASE_URL / TESSERA_TEST_REDIS_URL; else the local services on
their default ports when they answer; else embedded servers this test process starts
and stops itself. Never a mock.
"""

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import psycopg
import redis
from sqlalchemy.engine import make_url

# A superuser (or a role that may create databases and roles) on the server under test.
LOCAL_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"


def _postgres_answers(url: str) -> bool:
    parsed = make_url(url).set(drivername="postgresql")
    try:
        psycopg.connect(parsed.render_as_string(hide_password=False), connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


def _redis_answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


@contextmanager
def _first_available(
    env_var: str,
    local_url: str,
    answers: Callable[[str], bool],
    embedded: Callable[[], AbstractContextManager[str]],
) -> Iterator[str]:
    configured = os.environ.get(env_var)
    if configured:
        yield configured
    elif answers(local_url):
        yield local_url
    else:
        with embedded() as url:
            yield url


@contextmanager
def _embedded_postgres(var_dir: Path) -> Iterator[str]:
    from backend.devstack.embedded import EmbeddedPostgres

    with EmbeddedPostgres(var_dir / "test-postgres") as server:
        yield server.admin_url()


@contextmanager
def _embedded_redis(var_dir: Path) -> Iterator[str]:
    from backend.devstack.embedded import EmbeddedRedis

    with EmbeddedRedis(var_dir / "test-redis") as server:
        yield server.url


def postgres_admin_url(var_dir: Path) -> AbstractContextManager[str]:
    """A URL on which the suite may create databases and roles."""
    return _first_available(
        "TESSERA_TEST_DATABASE_URL",
        LOCAL_POSTGRES_URL,
        _postgres_answers,
        lambda: _embedded_postgres(var_dir),
    )


def redis_url(var_dir: Path) -> AbstractContextManager[str]:
    return _first_available(
        "TESSERA_TEST_REDIS_URL", LOCAL_REDIS_URL, _redis_answers, lambda: _embedded_redis(var_dir)
    )
