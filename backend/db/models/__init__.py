"""All models, imported here so Alembic and the mapper registry see every table."""

from backend.db.models.account_tokens import AccountToken, AccountTokenPurpose
from backend.db.models.api_keys import ApiKey
from backend.db.models.apis import Api, ApiScope
from backend.db.models.audit import AuditEvent
from backend.db.models.authorization_codes import AuthorizationCode
from backend.db.models.clients import Client
from backend.db.models.factors import (
    Factor,
    FactorKind,
    MfaChallenge,
    RecoveryCode,
    WebauthnChallenge,
)
from backend.db.models.imports import ImportOutcome, ImportRow
from backend.db.models.invitations import Invitation
from backend.db.models.jobs import Job, JobStatus
from backend.db.models.roles import Grant, Role, RoleInclude, RoleScope
from backend.db.models.service_accounts import ServiceAccount, ServiceAccountRole
from backend.db.models.sessions import LoginSession, RefreshToken
from backend.db.models.tenants import Tenant, TenantStatus
from backend.db.models.users import User, UserStatus

__all__ = [
    "AccountToken",
    "AccountTokenPurpose",
    "Api",
    "ApiKey",
    "ApiScope",
    "AuditEvent",
    "AuthorizationCode",
    "Client",
    "Factor",
    "FactorKind",
    "Grant",
    "ImportOutcome",
    "ImportRow",
    "Invitation",
    "Job",
    "JobStatus",
    "LoginSession",
    "MfaChallenge",
    "RecoveryCode",
    "RefreshToken",
    "Role",
    "RoleInclude",
    "RoleScope",
    "ServiceAccount",
    "ServiceAccountRole",
    "Tenant",
    "TenantStatus",
    "User",
    "UserStatus",
    "WebauthnChallenge",
]
