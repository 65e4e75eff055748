"""factory-boy factories for tenants, users and roles.

They write through the session the `db` fixture binds (the owner's connection) and
flush; a test commits when the API must see the rows.
"""

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy.orm import Session

from backend.db.models import (
    AccountToken,
    AccountTokenPurpose,
    ApiKey,
    AuditEvent,
    AuthorizationCode,
    Client,
    Factor,
    FactorKind,
    Grant,
    ImportRow,
    Invitation,
    Job,
    LoginSession,
    MfaChallenge,
    RecoveryCode,
    RefreshToken,
    Role,
    RoleInclude,
    RoleScope,
    ServiceAccount,
    ServiceAccountRole,
    Tenant,
    User,
    WebauthnChallenge,
)
from backend.domain.clients import ClientType
from backend.domain.passkeys import Ceremony
from backend.security.passwords import PasswordService
from backend.services.roles import seed_builtin_roles

DEFAULT_PASSWORD = "correct horse battery staple"


class _Base(SQLAlchemyModelFactory):  # type: ignore[misc]
    class Meta:
        abstract = True
        sqlalchemy_session_persistence = "flush"


class TenantFactory(_Base):
    class Meta:
        model = Tenant

    id = factory.LazyFunction(uuid.uuid4)
    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda t: t.slug.title())

    @factory.post_generation
    def builtin_roles(obj: Tenant, create: bool, extracted: Any, **_: Any) -> None:  # noqa: N805
        if create and extracted is not False:
            seed_builtin_roles(TenantFactory._meta.sqlalchemy_session, obj.id)


class RoleFactory(_Base):
    """A custom role; pass `scopes=[...]` and `includes=[role, ...]`."""

    class Meta:
        model = Role

    tenant_id = factory.LazyAttribute(lambda r: r.tenant.id)
    id = factory.LazyFunction(uuid.uuid4)
    name = factory.Sequence(lambda n: f"role-{n}")

    class Params:
        tenant = factory.SubFactory(TenantFactory)

    @factory.post_generation
    def scopes(obj: Role, create: bool, extracted: Any, **_: Any) -> None:  # noqa: N805
        session: Session = RoleFactory._meta.sqlalchemy_session
        for scope in extracted or ():
            session.add(RoleScope(tenant_id=obj.tenant_id, role_id=obj.id, scope=str(scope)))
        session.flush()

    @factory.post_generation
    def includes(obj: Role, create: bool, extracted: Any, **_: Any) -> None:  # noqa: N805
        session: Session = RoleFactory._meta.sqlalchemy_session
        for included in extracted or ():
            session.add(
                RoleInclude(tenant_id=obj.tenant_id, role_id=obj.id, included_role_id=included.id)
            )
        session.flush()


class UserFactory(_Base):
    """A user with a real (cheap) argon2 hash of `password`; pass `roles=[role, ...]`."""

    class Meta:
        model = User
        exclude = ("password",)

    tenant_id = factory.LazyAttribute(lambda u: u.tenant.id)
    id = factory.LazyFunction(uuid.uuid4)
    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    password = DEFAULT_PASSWORD
    password_hash = factory.LazyAttribute(lambda u: UserFactory.hasher.hash(u.password))

    class Params:
        tenant = factory.SubFactory(TenantFactory)

    # Set by the `db` fixture from the test settings, so hashing stays cheap.
    hasher: PasswordService

    @factory.post_generation
    def roles(obj: User, create: bool, extracted: Any, **_: Any) -> None:  # noqa: N805
        session: Session = UserFactory._meta.sqlalchemy_session
        for role in extracted or ():
            session.add(Grant(tenant_id=obj.tenant_id, user_id=obj.id, role_id=role.id))
        session.flush()


def _digest(n: int) -> bytes:
    return hashlib.sha256(f"factory-secret-{n}".encode()).digest()


class LoginSessionFactory(_Base):
    class Meta:
        model = LoginSession

    tenant_id = factory.LazyAttribute(lambda f: f.user.tenant_id)
    id = factory.LazyFunction(uuid.uuid4)
    user_id = factory.LazyAttribute(lambda f: f.user.id)
    created_at = factory.LazyFunction(lambda: datetime.now(UTC))
    last_used_at = factory.LazyAttribute(lambda f: f.created_at)
    expires_at = factory.LazyAttribute(lambda f: f.created_at + timedelta(days=30))
    user_agent = "factory"

    class Params:
        user = factory.SubFactory(UserFactory)


class RefreshTokenFactory(_Base):
    class Meta:
        model = RefreshToken

    tenant_id = factory.LazyAttribute(lambda t: t.family.tenant_id)
    id = factory.LazyFunction(uuid.uuid4)
    family_id = factory.LazyAttribute(lambda t: t.family.id)
    user_id = factory.LazyAttribute(lambda t: t.family.user_id)
    token_hash = factory.Sequence(_digest)
    scope = "me"
    issued_at = factory.LazyFunction(lambda: datetime.now(UTC))
    expires_at = factory.LazyAttribute(lambda t: t.issued_at + timedelta(days=1))

    class Params:
        family = factory.SubFactory(LoginSessionFactory)


class ServiceAccountFactory(_Base):
    """A service account; pass `roles=[role, ...]`."""

    class Meta:
        model = ServiceAccount

    tenant_id = factory.LazyAttribute(lambda a: a.tenant.id)
    id = factory.LazyFunction(uuid.uuid4)
    name = factory.Sequence(lambda n: f"robot-{n}")
    secret_hash = factory.Sequence(_digest)
    secret_prefix = "sa_factory"

    class Params:
        tenant = factory.SubFactory(TenantFactory)

    @factory.post_generation
    def roles(obj: ServiceAccount, create: bool, extracted: Any, **_: Any) -> None:  # noqa: N805
        session: Session = ServiceAccountFactory._meta.sqlalchemy_session
        for role in extracted or ():
            session.add(
                ServiceAccountRole(
                    tenant_id=obj.tenant_id, service_account_id=obj.id, role_id=role.id
                )
            )
        session.flush()


class ApiKeyFactory(_Base):
    class Meta:
        model = ApiKey

    tenant_id = factory.LazyAttribute(lambda k: k.creator.tenant_id)
    id = factory.LazyFunction(uuid.uuid4)
    name = factory.Sequence(lambda n: f"key-{n}")
    key_hash = factory.Sequence(_digest)
    prefix = "ak_factory"
    scope = "me"
    created_by = factory.LazyAttribute(lambda k: k.creator.id)

    class Params:
        creator = factory.SubFactory(UserFactory)


class AuditEventFactory(_Base):
    class Meta:
        model = AuditEvent

    tenant_id = factory.LazyAttribute(lambda e: e.tenant.id)
    id = factory.LazyFunction(uuid.uuid4)
    actor = "system"
    action = "factory.event"
    target = "nothing"

    class Params:
        tenant = factory.SubFactory(TenantFactory)


class InvitationFactory(_Base):
    class Meta:
        model = Invitation

    tenant_id = factory.LazyAttribute(lambda i: i.user.tenant_id)
    id = factory.LazyFunction(uuid.uuid4)
    user_id = factory.LazyAttribute(lambda i: i.user.id)
    token_hash = factory.Sequence(_digest)
    expires_at = factory.LazyFunction(lambda: datetime.now(UTC) + timedelta(days=7))

    class Params:
        user = factory.SubFactory(UserFactory)


class JobFactory(_Base):
    class Meta:
        model = Job

    tenant_id = factory.LazyAttribute(lambda j: j.tenant.id)
    id = factory.LazyFunction(uuid.uuid4)
    kind = "bulk_disable"
    params = factory.LazyFunction(lambda: {"reason": "factory"})
    requested_by = "system"

    class Params:
        tenant = factory.SubFactory(TenantFactory)


class ImportRowFactory(_Base):
    """A staged row of a user import, pending, with its import job."""

    class Meta:
        model = ImportRow

    tenant_id = factory.LazyAttribute(lambda r: r.job.tenant_id)
    job_id = factory.LazyAttribute(lambda r: r.job.id)
    line = factory.Sequence(lambda n: n + 2)
    email = factory.Sequence(lambda n: f"imported{n}@example.test")
    full_name = "Imported User"
    roles = factory.LazyFunction(list)
    password_hash = "$2b$04$" + "a" * 53

    class Params:
        job = factory.SubFactory(JobFactory, kind="import_users")


class _UserOwned(_Base):
    """A row of one user: tenant and user from the `user` given (or a new one)."""

    class Meta:
        abstract = True

    tenant_id = factory.LazyAttribute(lambda r: r.user.tenant_id)
    id = factory.LazyFunction(uuid.uuid4)
    user_id = factory.LazyAttribute(lambda r: r.user.id)

    class Params:
        user = factory.SubFactory(UserFactory)


class FactorFactory(_UserOwned):
    """A confirmed TOTP factor whose secret is no sealed value (rows for RLS tests)."""

    class Meta:
        model = Factor

    kind = FactorKind.TOTP
    secret = b"not sealed"
    confirmed_at = factory.LazyFunction(lambda: datetime.now(UTC))


class RecoveryCodeFactory(_UserOwned):
    class Meta:
        model = RecoveryCode

    code_hash = factory.Sequence(_digest)


class MfaChallengeFactory(_UserOwned):
    class Meta:
        model = MfaChallenge

    token_hash = factory.Sequence(_digest)
    scope = "me"
    expires_at = factory.LazyFunction(lambda: datetime.now(UTC) + timedelta(minutes=5))


class WebauthnChallengeFactory(_UserOwned):
    class Meta:
        model = WebauthnChallenge

    ceremony = Ceremony.REGISTRATION
    challenge = factory.Sequence(_digest)
    expires_at = factory.LazyFunction(lambda: datetime.now(UTC) + timedelta(minutes=5))


class AccountTokenFactory(_UserOwned):
    class Meta:
        model = AccountToken

    purpose = AccountTokenPurpose.PASSWORD_RESET
    token_hash = factory.Sequence(_digest)
    email = factory.LazyAttribute(lambda r: r.user.email)
    expires_at = factory.LazyFunction(lambda: datetime.now(UTC) + timedelta(minutes=15))


class ClientFactory(_Base):
    class Meta:
        model = Client

    id = factory.LazyFunction(uuid.uuid4)
    client_id = factory.Sequence(lambda n: f"client-{n}")
    name = factory.LazyAttribute(lambda c: f"{c.client_id} app")
    type = ClientType.PUBLIC
    redirect_uris = factory.LazyFunction(lambda: ["http://127.0.0.1:5173/callback"])
    grant_types = factory.LazyFunction(lambda: ["authorization_code"])


class AuthorizationCodeFactory(_Base):
    class Meta:
        model = AuthorizationCode

    tenant_id = factory.LazyAttribute(lambda c: c.user.tenant_id)
    id = factory.LazyFunction(uuid.uuid4)
    code_hash = factory.LazyFunction(lambda: hashlib.sha256(uuid.uuid4().bytes).digest())
    client_id = factory.LazyAttribute(lambda c: c.client.id)
    user_id = factory.LazyAttribute(lambda c: c.user.id)
    redirect_uri = "http://127.0.0.1:5173/callback"
    code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    scope = "openid me"
    auth_time = factory.LazyFunction(lambda: datetime.now(UTC))
    created_at = factory.LazyAttribute(lambda c: c.auth_time)
    expires_at = factory.LazyAttribute(lambda c: c.created_at + timedelta(seconds=60))

    class Params:
        user = factory.SubFactory(UserFactory)
        client = factory.SubFactory(ClientFactory)


ALL_FACTORIES: tuple[type[SQLAlchemyModelFactory], ...] = (
    TenantFactory,
    RoleFactory,
    UserFactory,
    LoginSessionFactory,
    RefreshTokenFactory,
    ServiceAccountFactory,
    ApiKeyFactory,
    AuditEventFactory,
    InvitationFactory,
    JobFactory,
    ImportRowFactory,
    FactorFactory,
    RecoveryCodeFactory,
    MfaChallengeFactory,
    WebauthnChallengeFactory,
    AccountTokenFactory,
    ClientFactory,
    AuthorizationCodeFactory,
)
