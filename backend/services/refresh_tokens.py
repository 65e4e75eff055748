"""Refresh tokens: one family per login, rotated on every use, reuse kills the family.

Follows the OAuth 2.0 Security BCP (RFC 9700 §4.14). Each use of the live token
marks it used and issues its successor, under a lock on the family row so concurrent
refreshes serialise. The successor is derived from the presented token with a server
key, so a repeat of the immediately preceding token within the grace window (two tabs,
a retried request) gets the same successor back: a family never has more than one
live token. Any other use of a used or revoked token revokes the whole family.
"""

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from backend.db.models import RefreshFamily, RefreshToken
from backend.db.tenant_context import enter_tenant
from backend.domain.errors import InvalidGrantError, NotFoundError
from backend.security.opaque import OpaqueSecret, derived_secret, new_secret, parse_secret
from backend.services import audit
from backend.settings import Settings

KIND = "rt"


class RefreshTokenReuseError(InvalidGrantError):
    """A rotated or revoked token came back: its family is revoked, and that is kept."""

    keeps_changes = True


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    idle_ttl: timedelta
    family_ttl: timedelta
    reuse_grace: timedelta
    # Derives successors; never leaves the server.
    derivation_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> "RefreshPolicy":
        return cls(
            idle_ttl=timedelta(seconds=settings.refresh_idle_ttl_seconds),
            family_ttl=timedelta(seconds=settings.refresh_family_ttl_seconds),
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
    token: str


def start_family(
    db: Session,
    policy: RefreshPolicy,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    scope: str,
    user_agent: str,
    now: datetime,
) -> str:
    """Open a session for a fresh login and return its first refresh token."""
    family = RefreshFamily(
        tenant_id=tenant_id,
        id=uuid.uuid4(),
        user_id=user_id,
        created_at=now,
        last_used_at=now,
        expires_at=now + policy.family_ttl,
        user_agent=user_agent[:300],
    )
    db.add(family)
    db.flush()
    secret = new_secret(KIND, tenant_id)
    _add_token(db, policy, family, secret, scope, now)
    return secret.value


def rotate(db: Session, policy: RefreshPolicy, presented: str, now: datetime) -> Rotation:
    """Exchange a refresh token for its successor; raise InvalidGrantError otherwise."""
    secret = parse_secret(KIND, presented)
    if secret is None:
        raise InvalidGrantError("refresh token is invalid")
    enter_tenant(db, secret.tenant_id)
    token = db.scalar(
        select(RefreshToken).where(
            RefreshToken.tenant_id == secret.tenant_id, RefreshToken.token_hash == secret.digest
        )
    )
    if token is None:
        raise InvalidGrantError("refresh token is invalid")
    # Serialises every rotation of this family; the token row is re-read under it.
    family = db.scalars(
        select(RefreshFamily)
        .where(RefreshFamily.tenant_id == token.tenant_id, RefreshFamily.id == token.family_id)
        .with_for_update()
    ).one()
    db.refresh(token)
    if family.revoked_at is not None:
        raise InvalidGrantError("this session has been ended")
    if family.expires_at <= now:
        raise InvalidGrantError("this session has expired; log in again")

    successor = derived_secret(KIND, secret.tenant_id, policy.derivation_key, secret.value)
    if token.used_at is None and token.revoked_at is None:
        if token.expires_at <= now:
            raise InvalidGrantError("refresh token expired; log in again")
        token.used_at = now
        _add_token(db, policy, family, successor, token.scope, now)
    elif not _is_grace_repeat(db, policy, token, successor, now):
        revoke_family(db, family, reason="reuse_detected", now=now)
        audit.record(
            db,
            tenant_id=family.tenant_id,
            actor=f"user:{family.user_id}",
            action="token.reuse_detected",
            target=f"session:{family.id}",
            data={"token_id": str(token.id), "rotated_at": _iso(token.used_at)},
        )
        raise RefreshTokenReuseError("refresh token was already used; the session is ended")
    family.last_used_at = now
    db.flush()
    return Rotation(
        tenant_id=family.tenant_id,
        user_id=family.user_id,
        family_id=family.id,
        scope=token.scope,
        token=successor.value,
    )


def revoke_family(db: Session, family: RefreshFamily, *, reason: str, now: datetime) -> None:
    """End a session: the family and every token in it stop working."""
    if family.revoked_at is None:
        family.revoked_at = now
        family.revoked_reason = reason
    db.execute(
        update(RefreshToken)
        .where(
            RefreshToken.tenant_id == family.tenant_id,
            RefreshToken.family_id == family.id,
            RefreshToken.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoked_reason=reason)
    )
    db.flush()


def revoke_presented(db: Session, presented: str, *, reason: str, now: datetime) -> None:
    """RFC 7009: revoke the family of a presented refresh token; unknown tokens are ignored."""
    secret = parse_secret(KIND, presented)
    if secret is None:
        return
    enter_tenant(db, secret.tenant_id)
    family = db.scalar(
        select(RefreshFamily)
        .join(
            RefreshToken,
            (RefreshToken.tenant_id == RefreshFamily.tenant_id)
            & (RefreshToken.family_id == RefreshFamily.id),
        )
        .where(RefreshToken.tenant_id == secret.tenant_id, RefreshToken.token_hash == secret.digest)
        .with_for_update(of=RefreshFamily)
    )
    if family is not None:
        revoke_family(db, family, reason=reason, now=now)


def live_families(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> list[RefreshFamily]:
    """A user's sessions that can still be refreshed, newest first."""
    return list(
        db.scalars(
            select(RefreshFamily)
            .where(
                RefreshFamily.tenant_id == tenant_id,
                RefreshFamily.user_id == user_id,
                RefreshFamily.revoked_at.is_(None),
                RefreshFamily.expires_at > now,
            )
            .order_by(RefreshFamily.created_at.desc())
        )
    )


def _is_grace_repeat(
    db: Session, policy: RefreshPolicy, token: RefreshToken, successor: OpaqueSecret, now: datetime
) -> bool:
    """True if `token` was rotated moments ago into the family's still-unused live token."""
    if token.used_at is None or token.revoked_at is not None or not policy.reuse_grace:
        return False
    if now - token.used_at > policy.reuse_grace:
        return False
    live_successor = db.scalar(
        select(RefreshToken.id).where(
            RefreshToken.tenant_id == token.tenant_id,
            RefreshToken.token_hash == successor.digest,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
    )
    return live_successor is not None


def _add_token(
    db: Session,
    policy: RefreshPolicy,
    family: RefreshFamily,
    secret: OpaqueSecret,
    scope: str,
    now: datetime,
) -> None:
    db.add(
        RefreshToken(
            tenant_id=family.tenant_id,
            id=uuid.uuid4(),
            family_id=family.id,
            user_id=family.user_id,
            token_hash=secret.digest,
            scope=scope,
            issued_at=now,
            expires_at=min(now + policy.idle_ttl, family.expires_at),
        )
    )
    db.flush()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def end_session(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, family_id: uuid.UUID, now: datetime
) -> None:
    """A user ends one of their own sessions; another user's session is not found."""
    family = db.scalar(
        select(RefreshFamily)
        .where(
            RefreshFamily.tenant_id == tenant_id,
            RefreshFamily.user_id == user_id,
            RefreshFamily.id == family_id,
            RefreshFamily.revoked_at.is_(None),
        )
        .with_for_update()
    )
    if family is None:
        raise NotFoundError("session")
    revoke_family(db, family, reason="ended_by_user", now=now)
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
            update(RefreshFamily)
            .where(
                RefreshFamily.tenant_id == tenant_id,
                RefreshFamily.revoked_at.is_(None),
                RefreshFamily.expires_at > now,
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
