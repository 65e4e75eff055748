"""What a grant needs to know about the user it issues a token to, read in one statement.

The user's and the tenant's standing, the user's effective scopes and when those that
come from time-bound grants lapse come from the SQL functions `tessera_token_subject` (a
refresh reads it in the same statement as its rotation) and `tessera_login_subject` (a
login's one read before the hash). Both bind the tenant and run with the caller's
rights, so row-level security applies.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from backend.db.models import TenantStatus, UserStatus
from backend.domain.scopes import Scope, effective_in


def registered(names: str) -> str:
    """SQL for the text[] `names` cut to the scopes still registered: the catalogue's and
    every API's. A name retired from the catalogue, or left behind by an API's removal,
    grants nothing. services/roles.py load_role_graph applies the same rule in Python's
    reads; tests/integration/services/test_roles.py proves that the two agree."""
    # Code constants only; colons escaped, or text() would read `:read` as a parameter.
    catalogue = ",".join(sorted(Scope)).replace(":", "\\:")
    return (
        f"ARRAY(SELECT n FROM unnest({names}) n WHERE n = ANY('{{{catalogue}}}'::text[]) "  # noqa: S608
        "OR EXISTS (SELECT 1 FROM api_scopes a WHERE a.name = n))"
    )


# The columns `from_row` reads, in order, as selected from either function aliased `s`.
COLUMNS = (
    "s.user_status, s.token_version, s.locked_until, s.tenant_status, s.tenant_slug, "
    f"{registered('s.scopes')}, s.lapsing, s.lapses"
)


@dataclass(frozen=True, slots=True)
class TokenSubject:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    user_status: UserStatus
    token_version: int
    locked_until: datetime | None
    tenant_status: TenantStatus
    tenant_slug: str
    # From the user's unexpired roles, platform scopes included: see `scopes_in`. Names
    # are as roles store them; a token keeps those of its API (services/audiences.py).
    held: frozenset[str]
    # When each held scope that lapses does (one given only by time-bound grants).
    lapses: dict[str, datetime]

    def scopes_in(self, platform_tenant_slug: str) -> frozenset[str]:
        """The effective scopes: platform scopes count only in the platform tenant."""
        return effective_in(self.held, platform=self.tenant_slug == platform_tenant_slug)


def from_row(
    tenant_id: uuid.UUID, user_id: uuid.UUID, row: Row[Any], start: int = 0
) -> TokenSubject:
    """A subject from the COLUMNS of a result row, the first at index `start`."""
    status, version, locked_until, tenant_status, slug, scopes, lapsing, lapses = row[
        start : start + 8
    ]
    held = frozenset[str](scopes or ())
    return TokenSubject(
        tenant_id=tenant_id,
        user_id=user_id,
        user_status=UserStatus(status),
        token_version=version,
        locked_until=locked_until,
        tenant_status=TenantStatus(tenant_status),
        tenant_slug=slug,
        held=held,
        lapses={
            scope: lapse
            for scope, lapse in zip(lapsing or (), lapses or (), strict=True)
            if scope in held
        },
    )


@dataclass(frozen=True, slots=True)
class LoginCandidate:
    """A password login's tenant and, if the email is known there, its user."""

    tenant_id: uuid.UUID
    tenant_policy: dict[str, Any]
    # None for an unknown email; then `subject` is None too.
    user_id: uuid.UUID | None
    password_hash: str | None
    subject: TokenSubject | None


def load_login(db: Session, tenant_slug: str, email: str, now: datetime) -> LoginCandidate | None:
    """Resolve the tenant by slug and bind it, then read the user by email (any case)
    with their standing and scopes: one statement. None if the tenant is unknown."""
    row = db.execute(
        # Lower-cased by PostgreSQL, as users.email_lower is: Python's lower() differs.
        _LOGIN,
        {"slug": tenant_slug, "email": email, "now": now},
    ).one_or_none()
    if row is None:
        return None
    tenant_id, policy, user_id, password_hash = row[:4]
    return LoginCandidate(
        tenant_id=tenant_id,
        tenant_policy=policy,
        user_id=user_id,
        password_hash=password_hash,
        subject=from_row(tenant_id, user_id, row, start=4) if user_id is not None else None,
    )


_LOGIN = text(
    f"SELECT s.tenant_id, s.tenant_policy, s.user_id, s.password_hash, {COLUMNS} "  # noqa: S608
    "FROM tessera_login_subject(:slug, :email, :now) s"
)


def load(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> TokenSubject | None:
    """The user's standing and scopes now (binding the tenant); None for no such user."""
    params = {"tenant_id": tenant_id, "user_id": user_id, "now": now}
    row = db.execute(_SUBJECT, params).one_or_none()
    return None if row is None else from_row(tenant_id, user_id, row)


_SUBJECT = text(
    f"SELECT {COLUMNS} FROM tessera_token_subject(:tenant_id, :user_id, :now) s"  # noqa: S608
)
