"""The `mfa_token` of a password login waiting for its second factor.

An opaque secret (`mf_<tenant>_<256 bits>`), stored as its SHA-256 with what the login
asked for: the user, the scopes and the resource. It lives five minutes and completes
one login: the mfa grant uses it up under a row lock, so a replay, or two requests
racing with it, gets invalid_grant. A wrong factor leaves it usable (the failure counts
towards the lockout instead), so a typo does not cost the password again.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from backend.db.models import MfaChallenge, User
from backend.domain.errors import InvalidGrantError, MfaRequiredError
from backend.security.opaque import new_secret
from backend.services import audit, presented_secrets

KIND = "mf"
TTL = timedelta(minutes=5)
INVALID = "mfa_token is invalid, expired or already used"
ASK = "this account has a second factor: send it with mfa_token to the mfa grant"


@dataclass(frozen=True, slots=True)
class Pending:
    challenge: MfaChallenge
    user: User


def challenge(
    db: Session,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    scope: str,
    resource: str | None,
    user_agent: str,
    now: datetime,
    session_id: uuid.UUID | None = None,
) -> MfaRequiredError:
    """Record a challenge for a login whose password was right, or for the browser
    session `session_id` to step up; the error to raise carries its `mfa_token` (and
    keeps the challenge, though the request fails)."""
    secret = new_secret(KIND, tenant_id)
    db.add(
        MfaChallenge(
            tenant_id=tenant_id,
            id=uuid.uuid4(),
            user_id=user_id,
            token_hash=secret.digest,
            scope=scope,
            resource=resource,
            user_agent=user_agent[:300],
            expires_at=now + TTL,
            session_id=session_id,
        )
    )
    audit.record(
        db,
        tenant_id=tenant_id,
        actor=f"user:{user_id}",
        action="auth.mfa_challenged",
        target=f"user:{user_id}",
        data={"scope": scope},
    )
    db.flush()
    return MfaRequiredError(ASK, secret.value)


def pending(db: Session, presented: str, now: datetime) -> Pending:
    """The challenge `presented` names, locked, with its user; InvalidGrantError if it
    cannot complete a login any more."""
    found = presented_secrets.unspent(db, MfaChallenge, KIND, presented, now, lock=True)
    if found is None:
        raise InvalidGrantError(INVALID)
    return Pending(challenge=found[0], user=found[1])
