"""Sessions: one per login, a session of refresh tokens rotated on every use; a reuse
ends the session.

Follows the OAuth 2.0 Security BCP (RFC 9700 §4.14). Each use of the live token
marks it used and issues its successor, under a lock on the session's row so concurrent
refreshes serialise. The successor is derived from the presented token with a server
key, so a repeat of the immediately preceding token within the grace window (two tabs,
a retried request) gets the same successor back: a session never has more than one
live token. Any other use of a used or revoked token ends the whole session.
"""

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, text, update
from sqlalchemy.orm import Session

from backend.db.models import LoginSession, RefreshToken
from backend.domain.errors import InvalidGrantError, NotFoundError, RefreshTokenReuseError
from backend.security.opaque import derived_secret, new_secret, parse_secret
from backend.services import audit, presented_secrets, subjects
from backend.settings import Settings

KIND = "rt"


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    idle_ttl: timedelta
    session_ttl: timedelta
    reuse_grace: timedelta
    # Derives successors; never leaves the server.
    derivation_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> "RefreshPolicy":
        return cls(
            idle_ttl=timedelta(seconds=settings.refresh_idle_ttl_seconds),
            session_ttl=timedelta(seconds=settings.refresh_family_ttl_seconds),
            reuse_grace=timedelta(seconds=settings.refresh_reuse_grace_seconds),
            # A key of its own, derived so that it never equals the signing key.
            derivation_key=hmac.new(
                settings.signing_secret(), b"tessera refresh successors", hashlib.sha256
            ).digest(),
        )


@dataclass(frozen=True, slots=True)
class Rotation:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    family_id: uuid.UUID
    scope: str
    # The API the session's tokens are for; None for Tessera's own (services/audiences.py).
    resource: str | None
    token: str
    # The user's standing and scopes, read in the same statement.
    subject: subjects.TokenSubject


def start_session(
    policy: RefreshPolicy,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    scope: str,
    user_agent: str,
    now: datetime,
    amr: str = "pwd",
    resource: str | None = None,
) -> tuple[str, dict[str, object]]:
    """A session for a fresh login: its first refresh token, and the parameters of
    START_SESSION_CTES, which the caller runs inside a statement of its own. `resource` is
    the API its tokens are for (None: Tessera's own); every refresh keeps it."""
    secret = new_secret(KIND, tenant_id)
    family_expires_at = now + policy.session_ttl
    return secret.value, {
        "tenant_id": tenant_id,
        "user_id": user_id,
        "now": now,
        "family_id": uuid.uuid4(),
        "family_expires_at": family_expires_at,
        "user_agent": user_agent[:300],
        "amr": amr,
        "resource": resource,
        "token_id": uuid.uuid4(),
        "token_hash": secret.digest,
        "scope": scope,
        "token_expires_at": min(now + policy.idle_ttl, family_expires_at),
    }


# Two CTEs (`WITH` them into a statement) that store a new session: the session and its
# first token. Plain SQL, built once: the login runs it on every success.
START_SESSION_CTES = (
    "session_family AS (INSERT INTO refresh_families "
    "(tenant_id, id, user_id, created_at, last_used_at, expires_at, user_agent, amr, "
    "resource) "
    "VALUES (:tenant_id, :family_id, :user_id, :now, :now, :family_expires_at, :user_agent, "
    ":amr, :resource)), "
    "session_token AS (INSERT INTO refresh_tokens "
    "(tenant_id, id, family_id, user_id, token_hash, scope, issued_at, expires_at) "
    "VALUES (:tenant_id, :token_id, :family_id, :user_id, :token_hash, :scope, :now, "
    ":token_expires_at))"
)


def rotate(db: Session, policy: RefreshPolicy, presented: str, now: datetime) -> Rotation:
    """Exchange a refresh token for its successor; raise InvalidGrantError otherwise.

    One statement: the SQL function `tessera_rotate_refresh_token` binds the tenant,
    locks the session, re-reads the token under the lock and rotates it (or tells a
    grace-window repeat, a reuse or a refusal), `tessera_token_subject` reads the
    user's standing and scopes for the new access token, and the session's resource
    comes along.
    """
    secret = parse_secret(KIND, presented)
    if secret is None:
        raise InvalidGrantError("refresh token is invalid")
    successor = derived_secret(KIND, secret.tenant_id, policy.derivation_key, secret.value)
    row = db.execute(
        _ROTATE,
        {
            "tenant_id": secret.tenant_id,
            "token_hash": secret.digest,
            "successor_hash": successor.digest,
            "now": now,
            "idle_ttl": policy.idle_ttl,
            "reuse_grace": policy.reuse_grace,
        },
    ).one()
    outcome, family_id, user_id, token_id, scope, used_at, resource = row[:7]
    refusal = _REFUSALS.get(outcome)
    if refusal is not None:
        raise InvalidGrantError(refusal)
    if outcome == "reused":
        # The function holds the session's row lock for the rest of the transaction.
        session = db.get_one(LoginSession, (secret.tenant_id, family_id))
        revoke_session(db, session, reason="reuse_detected", now=now)
        audit.record(
            db,
            tenant_id=session.tenant_id,
            actor=f"user:{session.user_id}",
            action="token.reuse_detected",
            target=f"session:{session.id}",
            data={"token_id": str(token_id), "rotated_at": _iso(used_at)},
        )
        raise RefreshTokenReuseError("refresh token was already used; the session is ended")
    if outcome not in ("rotated", "repeated"):
        raise RuntimeError(f"unexpected rotation outcome {outcome!r}")
    return Rotation(
        tenant_id=secret.tenant_id,
        user_id=user_id,
        family_id=family_id,
        scope=scope,
        resource=resource,
        token=successor.value,
        subject=subjects.from_row(secret.tenant_id, user_id, row, start=7),
    )


_ROTATE = text(
    "SELECT r.outcome, r.family_id, r.user_id, r.token_id, r.scope, r.used_at, "  # noqa: S608
    f"f.resource, {subjects.COLUMNS} "
    "FROM tessera_rotate_refresh_token(:tenant_id, :token_hash, :successor_hash, "
    ":now, :idle_ttl, :reuse_grace) r "
    # Both run after the rotation has returned (they read r), with the tenant bound.
    "LEFT JOIN LATERAL (SELECT resource FROM refresh_families "
    "WHERE tenant_id = :tenant_id AND id = r.family_id) f ON true "
    "LEFT JOIN LATERAL tessera_token_subject(:tenant_id, r.user_id, :now) s ON true"
)
# Outcomes of tessera_rotate_refresh_token that refuse the token and change nothing.
_REFUSALS = {
    "unknown": "refresh token is invalid",
    "session_ended": "this session has been ended",
    "session_expired": "this session has expired; log in again",
    "token_expired": "refresh token expired; log in again",
}


def revoke_session(db: Session, session: LoginSession, *, reason: str, now: datetime) -> None:
    """End a session: it and every refresh token in it stop working."""
    if session.revoked_at is None:
        session.revoked_at = now
        session.revoked_reason = reason
    db.execute(
        update(RefreshToken)
        .where(
            RefreshToken.tenant_id == session.tenant_id,
            RefreshToken.family_id == session.id,
            RefreshToken.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoked_reason=reason)
    )
    db.flush()


def revoke_presented(db: Session, presented: str, *, reason: str, now: datetime) -> None:
    """RFC 7009: end the session of a presented refresh token; unknown tokens are ignored."""
    secret = presented_secrets.bind(db, KIND, presented)
    if secret is None:
        return
    session = db.scalar(
        select(LoginSession)
        .join(
            RefreshToken,
            (RefreshToken.tenant_id == LoginSession.tenant_id)
            & (RefreshToken.family_id == LoginSession.id),
        )
        .where(RefreshToken.tenant_id == secret.tenant_id, RefreshToken.token_hash == secret.digest)
        .with_for_update(of=LoginSession)
    )
    if session is not None:
        revoke_session(db, session, reason=reason, now=now)


def live_sessions(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> list[LoginSession]:
    """A user's sessions that can still be refreshed, newest first."""
    return list(
        db.scalars(
            select(LoginSession)
            .where(
                LoginSession.tenant_id == tenant_id,
                LoginSession.user_id == user_id,
                LoginSession.revoked_at.is_(None),
                LoginSession.expires_at > now,
            )
            .order_by(LoginSession.created_at.desc())
        )
    )


def amr_of(db: Session, tenant_id: uuid.UUID, family_id: uuid.UUID) -> str:
    """How the session's login authenticated: what its refreshes carry on as `amr`."""
    return (
        db.scalar(
            select(LoginSession.amr).where(
                LoginSession.tenant_id == tenant_id, LoginSession.id == family_id
            )
        )
        or "pwd"
    )


def end_user_sessions(
    db: Session,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    reason: str,
    now: datetime,
    keep: uuid.UUID | None = None,
) -> int:
    """End every live session of the user but `keep`; returns how many ended."""
    ended = [s for s in live_sessions(db, tenant_id, user_id, now) if s.id != keep]
    for session in ended:
        revoke_session(db, session, reason=reason, now=now)
    return len(ended)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def end_session(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, family_id: uuid.UUID, now: datetime
) -> None:
    """A user ends one of their own sessions; another user's session is not found."""
    session = db.scalar(
        select(LoginSession)
        .where(
            LoginSession.tenant_id == tenant_id,
            LoginSession.user_id == user_id,
            LoginSession.id == family_id,
            LoginSession.revoked_at.is_(None),
        )
        .with_for_update()
    )
    if session is None:
        raise NotFoundError("session")
    revoke_session(db, session, reason="ended_by_user", now=now)
    audit.record(
        db,
        tenant_id=tenant_id,
        actor=f"user:{user_id}",
        action="session.ended",
        target=f"session:{family_id}",
    )


def revoke_tenant_sessions(db: Session, tenant_id: uuid.UUID, *, reason: str, now: datetime) -> int:
    """End every live session of a tenant in two set-based statements; how many ended.

    Expired sessions and tokens are left as they are: nothing can use them. The
    transaction must be bound to the tenant (row-level security).
    """
    # An UPDATE's result is a CursorResult, whose rowcount the stubs do not show.
    ended = cast(
        "CursorResult[Any]",
        db.execute(
            update(LoginSession)
            .where(
                LoginSession.tenant_id == tenant_id,
                LoginSession.revoked_at.is_(None),
                LoginSession.expires_at > now,
            )
            .values(revoked_at=now, revoked_reason=reason)
        ),
    )
    db.execute(
        update(RefreshToken)
        .where(
            RefreshToken.tenant_id == tenant_id,
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
        )
        .values(revoked_at=now, revoked_reason=reason)
    )
    return ended.rowcount
