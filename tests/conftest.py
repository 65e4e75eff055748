"""Fixtures shared by the whole suite: real PostgreSQL and Redis, the app, tokens."""

import compileall
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import SecretStr
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from backend.db.models import Role, Tenant, User
from backend.main import create_app
from backend.security.passwords import PasswordService
from backend.security.principal_cache import CLIENTS
from backend.security.tokens import AccessTokenCodec
from backend.services.effects import Effects
from backend.settings import PROJECT_ROOT, Environment, Settings
from tests import factories
from tests.support.database import (
    database_urls,
    drop_database,
    empty_all,
    migrate,
    recreate_database,
)
from tests.support.services import postgres_admin_url, redis_url

VAR_DIR = PROJECT_ROOT / "var"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the project once, before the test workers start: the suite starts dozens
    of Python processes (CLI, worker, API), and with PYTHONDONTWRITEBYTECODE set each
    would compile every module it imports afresh."""
    if not hasattr(session.config, "workerinput"):
        for source in ("backend", "migrations"):
            compileall.compile_dir(PROJECT_ROOT / source, quiet=1)


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """`gw0`, `gw1`, ... under pytest-xdist; `main` otherwise."""
    workerinput = getattr(request.config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "main"


@pytest.fixture(scope="session")
def admin_database_url() -> Iterator[str]:
    with postgres_admin_url(VAR_DIR) as url:
        yield url


@pytest.fixture(scope="session")
def base_redis_url() -> Iterator[str]:
    with redis_url(VAR_DIR) as url:
        yield url


@pytest.fixture(scope="session")
def settings(
    request: pytest.FixtureRequest,
    worker_id: str,
    admin_database_url: str,
    base_redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Settings]:
    """Settings for this worker: its own database and Redis db, cheap argon2."""
    # Named per run too, so two runs on one machine (a developer and an agent, say)
    # never share or drop each other's database.
    workerinput = getattr(request.config, "workerinput", {})
    run = str(workerinput.get("testrunuid", uuid.uuid4().hex))[:8]
    name = f"tessera_test_{run}_{worker_id}"
    recreate_database(admin_database_url, name)
    owner_url, app_url = database_urls(admin_database_url, name)
    # Redis db 0 is left to developers; each worker takes its own numbered db.
    index = 1 + (int(worker_id[2:]) if worker_id.startswith("gw") else 0)
    test_settings = Settings(
        env=Environment.TEST,
        var_dir=tmp_path_factory.mktemp("var"),
        database_url=app_url,
        migration_database_url=owner_url,
        redis_url=base_redis_url.rsplit("/", 1)[0] + f"/{index}",
        secret_key=SecretStr("test-secret-" + "x" * 40),
        encryption_key=SecretStr("test-encryption-" + "y" * 40),
        argon2_memory_cost_kib=64,
        argon2_time_cost=1,
        argon2_parallelism=1,
        # Every test client shares one address; tests of the limit build their own app.
        token_rate_limit_per_minute=0,
    )
    migrate(test_settings)
    with redis.Redis.from_url(test_settings.redis_url) as client:
        client.flushdb()
    yield test_settings
    drop_database(admin_database_url, name)


@pytest.fixture(scope="session")
def owner_engine(settings: Settings) -> Iterator[Engine]:
    engine = create_engine(settings.owner_database_url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that touched the database, empty it."""
    uses_database = "settings" in request.fixturenames
    engine: Engine | None = request.getfixturevalue("owner_engine") if uses_database else None
    yield
    if engine is not None:
        empty_all(engine)


@pytest.fixture
def db(owner_engine: Engine, settings: Settings) -> Iterator[Session]:
    """A session as the tables' owner, for arranging data; factories write through it."""
    with Session(owner_engine, expire_on_commit=False) as session:
        for factory in factories.ALL_FACTORIES:
            factory._meta.sqlalchemy_session = session
        factories.UserFactory.hasher = PasswordService(settings)
        yield session
        session.rollback()


@pytest.fixture(scope="session")
def app_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def effects(app_client: TestClient) -> Effects:
    """The app's own effects, for services a test calls: they drop the app's principal cache
    entries at once, as in the app's process (other processes hear it from Redis)."""
    runtime_effects: Effects = app_client.app.state.runtime.effects  # type: ignore[attr-defined]
    return runtime_effects


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    """The HTTP surface of a running app (lifespan entered once per worker)."""
    return fresh(app_client)


def fresh(app: TestClient) -> TestClient:
    """A long-lived app as a new test needs it: no headers or cookies of the last test,
    and nothing kept of clients, which tests register (and empty_all deletes) directly in
    the database, where no change of a client is heard."""
    app.headers.clear()
    app.cookies.clear()
    app.app.state.runtime.principal_cache.drop(CLIENTS)  # type: ignore[attr-defined]
    return app


def builtin_role(db: Session, tenant: Tenant, name: str) -> Role:
    role = db.scalar(select(Role).where(Role.tenant_id == tenant.id, Role.name == name))
    assert role is not None, f"tenant {tenant.slug} has no role {name}"
    return role


@pytest.fixture
def issue_token(settings: Settings) -> Callable[..., str]:
    """A real access token for a user with the scopes given (default: all they hold)."""
    return token_issuer(settings)


def token_issuer(settings: Settings) -> Callable[..., str]:
    """What `issue_token` gives, for an app built with other settings (another key ring)."""
    codec = AccessTokenCodec(settings)

    def issue(
        user: User, scopes: list[str], *, now: int | None = None, version: int | None = None
    ) -> str:
        return codec.issue(
            user_id=user.id,
            tenant_id=user.tenant_id,
            scope=" ".join(scopes),
            token_version=user.token_version if version is None else version,
            now=now,
        ).token

    return issue


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def random_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def tmp_var(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def argon2_verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The hashes every argon2 verification in the process was asked to check."""
    calls: list[str] = []
    original = Argon2Hasher.verify

    def counting(self: Argon2Hasher, password: str | bytes, hash: str | bytes) -> bool:
        calls.append(str(hash))
        return original(self, password, hash)

    monkeypatch.setattr(Argon2Hasher, "verify", counting)
    return calls
