"""Schemathesis against the app's own OpenAPI document, in process (ASGI).

Every operation is called with generated valid and invalid inputs, as a tenant owner
holding every tenant scope (and, for the platform routes, as a platform operator), and
every response must pass schemathesis's checks: no 5xx, a documented status code, the
documented content type and headers, a body that matches its schema, invalid input
rejected with a 4xx, and credentials that are not ignored.

Bounded: at most MAX_EXAMPLES generated cases per operation and mode, no shrinking
beyond Hypothesis's default, no deadline (a login hashes a password). One pytest item
per operation, so xdist spreads them over its workers.

Every operation of the schema and every default check runs. The few known deviations
are tolerated case by case, each with its reason, in schema_deviations.py; and a
schema-valid request may be refused with 400 or 422 by a business rule (see below).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.db.models import Tenant, TenantStatus, User, UserStatus
from backend.domain.scopes import PLATFORM_SCOPES, TENANT_SCOPES
from backend.main import create_app
from backend.security.caller_cache import CallerCache
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import RoleFactory, TenantFactory, UserFactory
from tests.security.schema_deviations import skipped_checks

pytestmark = pytest.mark.security

MAX_EXAMPLES = 10

# The schema is read at collection, from an app built with default settings: OpenAPI
# depends on the routes only, and collection must not need a database. Requests go to
# the `fuzz_app` fixture, which is built from the test worker's settings.
OPENAPI = create_app(Settings()).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)
schema.config.generation.update(max_examples=MAX_EXAMPLES)
# Schema-valid input may still break a rule no schema can state: a wrong current
# password (400), a password the tenant's policy refuses or a role that would escalate
# (422). Those answers are documented per route and checked by status_code_conformance;
# here they must not count as "valid data rejected". 5xx stays a failure (not_a_server_error).
schema.config.checks.positive_data_acceptance.expected_statuses = [
    *schema.config.checks.positive_data_acceptance.expected_statuses,
    "400",
    "422",
]


@pytest.fixture(scope="module")
def fuzz_app(settings: Settings) -> Iterator[FastAPI]:
    app = create_app(settings)
    yield app
    # Schemathesis keeps each app's lifespan open for the process; close this one
    # (its pool and Redis client) before the worker's database is dropped.
    shutdown_lifespans()


@dataclass(frozen=True)
class Callers:
    owner: User
    operator: User


@pytest.fixture
def callers(db: Session, settings: Settings) -> Callers:
    acme = TenantFactory(slug="acme")
    owner = UserFactory(tenant=acme, email="ada@acme.test", roles=[builtin_role(db, acme, "owner")])
    platform = TenantFactory(slug=settings.platform_tenant_slug)
    operator_role = RoleFactory(tenant=platform, scopes=sorted(PLATFORM_SCOPES | TENANT_SCOPES))
    operator = UserFactory(tenant=platform, email="op@platform.test", roles=[operator_role])
    db.commit()
    return Callers(owner=owner, operator=operator)


@pytest.fixture
def fresh_headers(
    db: Session,
    settings: Settings,
    callers: Callers,
    issue_token: Callable[..., str],
    fuzz_app: FastAPI,
) -> Iterator[Callable[[str], dict[str, str]]]:
    """A token for the caller a path needs, issued after restoring the caller's standing.

    Fuzzing is allowed to hurt its own callers (a wrong current password counts towards
    the lockout, after which no current password is checked; an operator may suspend the
    tenant it read from GET /tenants); each case starts again from an active, unlocked
    caller with a token of the current version, so one case cannot spoil every later one.
    """
    client = redis.Redis.from_url(settings.redis_url)
    cache = CallerCache(client)

    def headers(path: str) -> dict[str, str]:
        user = callers.operator if path.startswith("/tenants") else callers.owner
        db.execute(
            update(Tenant)
            .where(Tenant.id.in_([callers.owner.tenant_id, callers.operator.tenant_id]))
            .values(status=TenantStatus.ACTIVE)
        )
        db.execute(
            update(User)
            .where(User.id.in_([callers.owner.id, callers.operator.id]))
            .values(status=UserStatus.ACTIVE, locked_until=None, failed_logins=0)
        )
        db.commit()
        # The app's own cache once its lifespan has started: dropped at once, in-process.
        runtime = getattr(fuzz_app.state, "runtime", None)
        for tenant_id in (callers.owner.tenant_id, callers.operator.tenant_id):
            (cache if runtime is None else runtime.callers).forget(tenant_id)
        db.refresh(user)
        scopes = PLATFORM_SCOPES | TENANT_SCOPES if user is callers.operator else TENANT_SCOPES
        return bearer(issue_token(user, sorted(scopes)))

    yield headers
    client.close()


@schema.parametrize()
@hypothesis_settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_conforms_to_its_schema(
    case: schemathesis.Case,
    fuzz_app: FastAPI,
    fresh_headers: Callable[[str], dict[str, str]],
) -> None:
    case.call_and_validate(
        app=fuzz_app,
        headers=fresh_headers(case.path),
        excluded_checks=skipped_checks(case, OPENAPI),
    )
