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

Then one whole run, as `schemathesis run` makes it (examples, coverage, generated cases,
and the stateful phase that follows the links), with valid inputs only, must report no
warning: every operation accepts some of what its schema calls valid, and is reached
with ids that exist.
"""

import base64
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
import redis
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.cli.commands.run.context import ExecutionContext
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from backend.db.models import (
    AccountTokenPurpose,
    Factor,
    FactorKind,
    Tenant,
    TenantStatus,
    User,
    UserStatus,
)
from backend.domain.policy import MIN_PASSWORD_LENGTH_FLOOR
from backend.domain.scopes import OIDC_SCOPES, PLATFORM_SCOPES, TENANT_SCOPES, Scope
from backend.main import create_app
from backend.security.opaque import new_secret
from backend.security.principal_cache import PrincipalCache
from backend.security.sealing import Purpose, Sealer
from backend.services import account_tokens, invitations, mfa_challenges, service_accounts
from backend.settings import Settings
from tests.conftest import bearer, builtin_role, token_issuer
from tests.factories import (
    DEFAULT_PASSWORD,
    AccountTokenFactory,
    FactorFactory,
    InvitationFactory,
    LoginSessionFactory,
    MfaChallengeFactory,
    RoleFactory,
    ServiceAccountFactory,
    TenantFactory,
    UserFactory,
    WebauthnChallengeFactory,
)
from tests.security.schema_deviations import skipped_checks
from tests.support.passkeys import SoftAuthenticator, b64

pytestmark = pytest.mark.security

MAX_EXAMPLES = 10

# The schema is read at collection, from an app built with default settings: OpenAPI
# depends on the routes only, and collection must not need a database. Requests go to
# the `fuzz_app` fixture, which is built from the test worker's settings.
OPENAPI = create_app(Settings()).openapi()
# Less the standings feed's stream, whose answer never ends by design (its one input,
# Last-Event-ID, gets NUL, surrogates and extremes in tests/integration/api/test_standings.py).
ENDLESS = "/standings/stream"
schema = schemathesis.openapi.from_dict(OPENAPI).exclude(path=ENDLESS)
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
def signing(settings: Settings) -> Settings:
    """An asymmetric key ring: OpenID Connect's documents and id_tokens need one."""
    return settings.model_copy(update={"jwt_algorithm": "EdDSA"})


@pytest.fixture
def issue_token(signing: Settings) -> Callable[..., str]:
    return token_issuer(signing)


@pytest.fixture(scope="module")
def fuzz_app(signing: Settings) -> Iterator[FastAPI]:
    app = create_app(signing)
    yield app
    # Schemathesis keeps each app's lifespan open for the process; close this one
    # (its pool and Redis client) before the worker's database is dropped.
    shutdown_lifespans()


@dataclass(frozen=True)
class Principals:
    owner: User
    operator: User


@pytest.fixture
def principals(db: Session, settings: Settings) -> Principals:
    # At the password floor, so that a new password the schema allows is accepted
    # unless it is a well-known one.
    acme = TenantFactory(slug="acme", policy={"password_min_length": MIN_PASSWORD_LENGTH_FLOOR})
    owner = UserFactory(tenant=acme, email="ada@acme.test", roles=[builtin_role(db, acme, "owner")])
    platform = TenantFactory(slug=settings.platform_tenant_slug)
    operator_role = RoleFactory(tenant=platform, scopes=sorted(PLATFORM_SCOPES | TENANT_SCOPES))
    operator = UserFactory(tenant=platform, email="op@platform.test", roles=[operator_role])
    db.commit()
    return Principals(owner=owner, operator=operator)


@pytest.fixture
def fresh_headers(
    db: Session,
    settings: Settings,
    principals: Principals,
    issue_token: Callable[..., str],
    fuzz_app: FastAPI,
) -> Iterator[Callable[[str], dict[str, str]]]:
    """A token for the principal a path needs, issued after restoring the principal's standing.

    Fuzzing is allowed to hurt its own principals (a wrong current password counts towards
    the lockout, after which no current password is checked; an operator may suspend the
    tenant it read from GET /tenants); each case starts again from an active, unlocked
    principal with a token of the current version, so one case cannot spoil every later one.
    """
    client = redis.Redis.from_url(settings.redis_url)
    cache = PrincipalCache(client)

    def headers(path: str) -> dict[str, str]:
        platform = path.startswith(("/tenants", "/standings", "/apis", "/clients"))
        user = principals.operator if platform else principals.owner
        tenant_ids = [principals.owner.tenant_id, principals.operator.tenant_id]
        # Only what a case spoiled is written back: most cases spoil nothing.
        restored = db.execute(
            update(Tenant)
            .where(Tenant.id.in_(tenant_ids), Tenant.status != TenantStatus.ACTIVE)
            .values(status=TenantStatus.ACTIVE)
        ).rowcount
        for principal in (principals.owner, principals.operator):
            # A case that changed the principal's password changed only that case's world.
            restored += db.execute(
                update(User)
                .where(
                    User.id == principal.id,
                    or_(
                        User.status != UserStatus.ACTIVE,
                        User.locked_until.is_not(None),
                        User.failed_logins != 0,
                        User.password_hash.is_distinct_from(principal.password_hash),
                    ),
                )
                .values(
                    status=UserStatus.ACTIVE,
                    locked_until=None,
                    failed_logins=0,
                    password_hash=principal.password_hash,
                )
            ).rowcount
        # A case that confirmed a factor would make every later login ask for it.
        db.execute(
            delete(Factor).where(
                Factor.user_id == principals.owner.id, Factor.confirmed_at.is_not(None)
            )
        )
        version = db.scalar(select(User.token_version).where(User.id == user.id))
        db.commit()
        if restored:
            # The app's own cache once its lifespan has started: dropped at once, in-process.
            runtime = getattr(fuzz_app.state, "runtime", None)
            for tenant_id in tenant_ids:
                (cache if runtime is None else runtime.principal_cache).forget(tenant_id)
        scopes: set[str] = set(
            PLATFORM_SCOPES | TENANT_SCOPES if user is principals.operator else TENANT_SCOPES
        )
        if path == "/userinfo":
            # OpenID Connect's scopes, which only the code flow grants.
            scopes |= OIDC_SCOPES
        return bearer(issue_token(user, sorted(scopes), version=version))

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


# The whole run

# Enough stateful scenarios that every link is followed to a success, not by luck; and a
# fixed seed, since whether an operation was reached is read from one run: a warning it
# reports is then the schema's doing, and the same on every machine.
STATEFUL_SCENARIOS = 30
WHOLE_RUN_SEED = 15


def secrets_for(
    db: Session, owner: User, settings: Settings
) -> Callable[[schemathesis.Case], None]:
    """What a valid case needs that no generator can guess, as a client would have it.

    The owner's password to log in or to change it, a service account's credentials for
    the client-credentials grant, a client registration's URIs, a live invitation, reset
    or verification token to use, a TOTP enrolment's current code, a new passkey for a
    registration challenge, a live mfa_token of a user with a passkey, and the ids no
    creation answers: a session of the principal's (a login's answer has no
    session id) and a grant to take back. Without them every valid case of these
    operations is refused, which is what the `validation_mismatch` and
    `missing_test_data` warnings count. Everything else stays as generated.
    """
    acme = db.get_one(Tenant, owner.tenant_id)
    member = builtin_role(db, acme, "member")

    def invitation() -> str:
        secret = new_secret(invitations.KIND, owner.tenant_id)
        InvitationFactory(
            user=UserFactory(tenant=acme, password_hash=None), token_hash=secret.digest
        )
        db.commit()
        return secret.value

    def mailed(purpose: AccountTokenPurpose, kind: str) -> str:
        """A live mailed token of a user of its own (a reset ends the user's sessions)."""
        user = UserFactory(tenant=acme)
        secret = new_secret(kind, owner.tenant_id)
        AccountTokenFactory(
            user=user,
            purpose=purpose,
            token_hash=secret.digest,
            password_fingerprint=account_tokens.password_fingerprint(user.password_hash)
            if purpose is AccountTokenPurpose.PASSWORD_RESET
            else None,
        )
        db.commit()
        return secret.value

    def totp_code() -> str:
        """The current code of a pending TOTP enrolment of the owner's."""
        secret, factor_id = pyotp.random_base32(), uuid.uuid4()
        db.execute(delete(Factor).where(Factor.user_id == owner.id))
        FactorFactory(
            user=owner,
            id=factor_id,
            secret=Sealer(settings.sealing_secret(), Purpose.TOTP_SECRET).seal(
                secret.encode(), factor_id.bytes
            ),
            confirmed_at=None,
        )
        db.commit()
        return pyotp.TOTP(secret).now()

    rp_id, origins = settings.webauthn_relying_party()

    def new_passkey() -> dict[str, Any]:
        """A new credential for a registration challenge of the owner's."""
        challenge = uuid.uuid4().bytes * 2
        WebauthnChallengeFactory(user=owner, challenge=challenge)
        db.commit()
        authenticator = SoftAuthenticator(rp_id=rp_id, origin=origins[0])
        return authenticator.create(
            {"challenge": b64(challenge), "user": {"id": b64(owner.id.bytes)}}
        )

    def passkey_login() -> str:
        """The mfa_token of a password login of a user with a passkey."""
        holder = UserFactory(tenant=acme, roles=[member])
        FactorFactory(
            user=holder, kind=FactorKind.WEBAUTHN, secret=None, credential_id=uuid.uuid4().bytes
        )
        secret = new_secret(mfa_challenges.KIND, owner.tenant_id)
        MfaChallengeFactory(user=holder, token_hash=secret.digest)
        db.commit()
        return secret.value

    def factor() -> str:
        """A pending enrolment: a confirmed factor would have the route ask to step up."""
        return str(FactorFactory(user=owner, confirmed_at=None).id)

    def session() -> str:
        family = LoginSessionFactory(user=owner)
        db.commit()
        return str(family.id)

    def grant() -> dict[str, str]:
        holder = UserFactory(tenant=acme, roles=[member])
        db.commit()
        return {"id": str(holder.id), "role_id": str(member.id)}

    def client() -> str:
        """HTTP Basic credentials of a live service account of the owner's tenant."""
        secret = new_secret(service_accounts.SECRET_KIND, owner.tenant_id)
        account = ServiceAccountFactory(
            tenant=acme, secret_hash=secret.digest, secret_prefix=secret.prefix, roles=[member]
        )
        db.commit()
        pair = f"{service_accounts.client_id_of(account)}:{secret.value}"
        return f"Basic {base64.b64encode(pair.encode()).decode()}"

    def introspector() -> str:
        """HTTP Basic credentials of a service account that may introspect tokens."""
        role = RoleFactory(tenant=acme, scopes=[Scope.TOKENS_INTROSPECT])
        secret = new_secret(service_accounts.SECRET_KIND, owner.tenant_id)
        account = ServiceAccountFactory(
            tenant=acme, secret_hash=secret.digest, secret_prefix=secret.prefix, roles=[role]
        )
        db.commit()
        pair = f"{service_accounts.client_id_of(account)}:{secret.value}"
        return f"Basic {base64.b64encode(pair.encode()).decode()}"

    def fill(case: schemathesis.Case) -> None:
        # A passkey the case before registered would have every later case step up.
        db.execute(
            delete(Factor).where(Factor.user_id == owner.id, Factor.kind == FactorKind.WEBAUTHN)
        )
        db.commit()
        body = case.body if isinstance(case.body, dict) else {}
        operation_id = case.operation.definition.raw["operationId"]
        if operation_id == "token":
            # A generated client_id names no registered client (invalid_client), and a
            # generated resource or product scope no registered API (invalid_target,
            # invalid_scope): these cases are first-party logins for Tessera's own API.
            body.pop("client_id", None)
            body.pop("client_secret", None)
            body.pop("resource", None)
            if isinstance(body.get("scope"), str):
                body["scope"] = " ".join(s for s in body["scope"].split() if s in set(Scope))
        if operation_id == "introspect":
            kept = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
            case.headers = {**kept, "Authorization": introspector()}
        if operation_id == "token" and body.get("grant_type") == "client_credentials":
            kept = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
            case.headers = {**kept, "Authorization": client()}
        elif operation_id == "token" and body.get("grant_type") == "password":
            body["password"] = DEFAULT_PASSWORD
            if "tenant" in body:
                body.update(tenant="acme", username=owner.email)
            else:
                body["username"] = f"acme/{owner.email}"
        elif operation_id == "me_password_update":
            body["current_password"] = DEFAULT_PASSWORD
        elif operation_id == "clients_create":
            # What registration checks beyond any schema (a code grant needs a redirect
            # URI, https unless on loopback; resources are registered APIs), filled as an
            # operator writes it; client_id, name, type and grants stay generated.
            body.update(
                redirect_uris=["https://app.acme.test/callback"],
                post_logout_redirect_uris=[],
                allowed_origins=["https://app.acme.test"],
                resources=[],
            )
        elif operation_id == "invitations_accept":
            body["token"] = invitation()
        elif operation_id == "password_resets_confirm":
            body["token"] = mailed(AccountTokenPurpose.PASSWORD_RESET, "pr")
        elif operation_id == "email_verifications_confirm":
            body["token"] = mailed(AccountTokenPurpose.EMAIL_VERIFICATION, "ev")
        elif operation_id == "me_factors_totp_confirm":
            body["code"] = totp_code()
        elif operation_id == "me_factors_webauthn_confirm":
            case.body = new_passkey()
        elif operation_id == "mfa_webauthn_options_create":
            body["mfa_token"] = passkey_login()
        elif operation_id == "me_factors_delete":
            case.path_parameters = {"id": factor()}
            db.commit()
        elif operation_id == "me_sessions_delete":
            case.path_parameters = {"id": session()}
        elif operation_id in ("users_roles_put", "users_roles_delete"):
            case.path_parameters = grant()

    return fill


def test_a_whole_run_reports_no_warnings(
    fuzz_app: FastAPI,
    db: Session,
    settings: Settings,
    principals: Principals,
    fresh_headers: Callable[[str], dict[str, str]],
) -> None:
    """Schemathesis's own run, read by the run context its CLI reports from, so the
    warnings are exactly those `schemathesis run` would print.

    Valid inputs only: the warnings are about them, and the invalid ones are the
    per-operation test's. `ignored_auth` is left to that test too: given the token by an
    auth provider, Schemathesis cannot take an OAuth2 bearer token off its probes (it
    strips only apiKey and HTTP credentials), so its probes would still authenticate.
    """
    run = schemathesis.openapi.from_dict(OPENAPI).exclude(path=ENDLESS)
    run.app = fuzz_app
    run.config.generation.update(
        max_examples=MAX_EXAMPLES, modes=[schemathesis.GenerationMode.POSITIVE]
    )
    run.config.phases.stateful.generation.update(max_examples=STATEFUL_SCENARIOS)
    run.config.seed = WHOLE_RUN_SEED
    # `use_after_free` expects every DELETE to make its resource unreadable. Tessera's
    # DELETE /users/{id} is a soft delete by design (the user stays readable, disabled
    # and anonymised: the audit log refers to it), and revoking an API key or service
    # account keeps its row as revoked. Hard deletes (roles, grants, sessions) are
    # checked to be 404 afterwards by their own tests.
    run.config.checks.update(excluded_check_names=["ignored_auth", "use_after_free"])
    run.config.checks.positive_data_acceptance.expected_statuses = list(
        schema.config.checks.positive_data_acceptance.expected_statuses
    )
    fill = secrets_for(db, principals.owner, settings)

    @run.auth(refresh_interval=None)
    class Principal:
        """A fresh token for every case, and the secrets the case needs."""

        def get(self, case: schemathesis.Case, context: Any) -> dict[str, str] | None:
            fill(case)
            guarded = bool(case.operation.definition.raw.get("security"))
            return fresh_headers(case.path) if guarded else None

        def set(self, case: schemathesis.Case, data: dict[str, str], context: Any) -> None:
            case.headers = {**(case.headers or {}), **data}

    context = ExecutionContext(
        config=run.config, find_operation_by_label=run.find_operation_by_label
    )
    for event in schemathesis.engine.from_schema(run).execute():
        context.on_event(event)

    warnings = {kind: labels for kind, labels in context.warnings.as_labels().items() if labels}
    assert warnings == {}
    failures = {
        label: sorted({f.title for grouped in cases.values() for f in grouped.failures})
        for label, cases in context.statistic.failures.items()
    }
    assert failures == {}
    assert [f"{error.label}: {error.value!r}" for error in context.errors] == []
    # The links took the stateful phase to operations that need an existing id.
    assert {label for label in context.warnings.stateful_exercised if "{" in label}
