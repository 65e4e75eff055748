"""Opaque secrets callers present back (security/opaque.py): the tenant they name bound
first, and for single-use ones the row they name while it can still be used.

Every presented secret (a refresh token, an API key, an authorization code, a browser
session cookie, an invitation, a reset or verification link, an mfa_token) names its
tenant, and the transaction is bound to that tenant before any lookup: the lookup then
runs under row-level security, and a secret of one tenant can never find another's row.
Rows are found by the SHA-256 of the whole secret through a unique index; the secret
itself is never compared, so there is no comparison to time.

Single-use secrets are spent in one of two ways, both safe against two requests racing
with one secret:
- an authorization code is spent by the exchange whatever follows (a code is tried
  once): `UPDATE ... WHERE used_at IS NULL RETURNING` in services/code_flow.py;
- invitations, reset and verification links and mfa_tokens must survive a failed
  attempt (a password the policy refuses, a mistyped code), so `unspent` finds the row
  under a row lock and the caller spends it (sets used_at or accepted_at) only once the
  attempt has succeeded; a racing second request waits on the lock, then sees it spent.
"""

from datetime import datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from backend.db.models import AccountToken, Invitation, MfaChallenge, User
from backend.db.tenant_context import enter_tenant
from backend.security.opaque import OpaqueSecret, parse_secret

# The rows of single-use secrets: each has tenant_id, user_id, token_hash, expires_at and
# a moment it was used at.
SingleUse = TypeVar("SingleUse", AccountToken, Invitation, MfaChallenge)


def bind(db: Session, kind: str, presented: str) -> OpaqueSecret | None:
    """The secret, if `presented` has the shape of one of `kind`, with the transaction
    bound to the tenant it names; None, and nothing bound, for anything else."""
    secret = parse_secret(kind, presented)
    if secret is not None:
        enter_tenant(db, secret.tenant_id)
    return secret


def unspent(
    db: Session,
    model: type[SingleUse],
    kind: str,
    presented: str,
    now: datetime,
    *,
    lock: bool,
    where: ColumnElement[bool] | None = None,
) -> tuple[SingleUse, User] | None:
    """The row of `model` that `presented` names (and matches `where`), with its user, if
    it is neither used nor expired; None for every other secret, whatever the reason, so
    that callers answer them all alike. With `lock`, the row is locked for the caller to
    spend it."""
    secret = bind(db, kind, presented)
    if secret is None:
        return None
    query = (
        select(model, User)
        .join(User, (User.tenant_id == model.tenant_id) & (User.id == model.user_id))
        .where(model.tenant_id == secret.tenant_id, model.token_hash == secret.digest)
    )
    if where is not None:
        query = query.where(where)
    row = db.execute(query.with_for_update(of=model) if lock else query).one_or_none()
    if row is None:
        return None
    found, user = row
    if found.used_at is not None or found.expires_at <= now:
        return None
    return found, user
