"""Browser sessions: what a hosted sign-in leaves in the browser, so that a later
/authorize for the same tenant needs no password.

A browser session is a session (a row of refresh_families, services/sessions.py) with
the SHA-256 of its cookie and no refresh token. Being one, it obeys every rule that ends
sessions: a password change, offboarding and deletion end it, the sweeps expire it at its
absolute lifetime, `/me/sessions` lists it and ends it. It is also refused while its user
is disabled or its tenant suspended, as a refresh is.

The cookie is an opaque secret naming the tenant (security/opaque.py), so the lookup
binds the tenant first and stays under row-level security.
"""

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.db.models import LoginSession
from backend.domain.standing import may_act
from backend.security.opaque import new_secret
from backend.services import audit, auth, presented_secrets, subjects
from backend.services.sessions import RefreshPolicy

KIND = "bs"
COOKIE = "tessera_session"


@dataclass(frozen=True, slots=True)
class BrowserSession:
    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    tenant_slug: str
    # When the password was typed (OpenID Connect auth_time).
    auth_time: datetime
    # How that sign-in authenticated (RFC 8176, space-separated), raised by a step-up:
    # every code the session sends carries it.
    amr: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    session: BrowserSession
    # The cookie's value: shown to the browser only, stored as its hash.
    cookie: str
    expires_at: datetime


def start(
    db: Session,
    policy: RefreshPolicy,
    verified: auth.VerifiedLogin,
    *,
    amr: str,
    user_agent: str,
) -> SignedIn:
    """Record a hosted sign-in that passed auth.verify_login (and any step after it,
    which `amr` names): the user's row as a login updates it, the browser session, and
    `auth.login_succeeded`."""
    tenant_id, user_id, now = verified.tenant_id, verified.user_id, verified.now
    secret = new_secret(KIND, tenant_id)
    session_id = uuid.uuid4()
    expires_at = now + policy.session_ttl
    event = audit.event_params(
        tenant_id=tenant_id,
        actor=f"user:{user_id}",
        action="auth.login_succeeded",
        target=f"user:{user_id}",
        data={"via": "hosted_page", "session": str(session_id), "amr": amr.split()},
    )
    db.execute(
        _SIGN_IN_WRITES,
        {
            **event,
            "user_id": user_id,
            "now": now,
            "family_id": session_id,
            "expires_at": expires_at,
            "user_agent": user_agent[:300],
            "secret_hash": secret.digest,
            "new_hash": verified.new_hash,
            "amr": amr,
        },
    )
    slug = verified.subject.tenant_slug
    return SignedIn(
        BrowserSession(session_id, tenant_id, user_id, slug, now, amr), secret.value, expires_at
    )


# The user's row as a successful login leaves it, the browser session, and the event.
_SIGN_IN_WRITES = text(
    f"WITH {audit.EVENT_CTE}, "  # noqa: S608 (module constants only)
    "login AS (UPDATE users SET last_login_at = :now, failed_logins = 0, locked_until = NULL, "
    "password_hash = coalesce(CAST(:new_hash AS varchar), password_hash) "
    "WHERE tenant_id = :tenant_id AND id = :user_id RETURNING id) "
    "INSERT INTO refresh_families (tenant_id, id, user_id, created_at, last_used_at, "
    "expires_at, user_agent, browser_secret_hash, amr) "
    "SELECT :tenant_id, :family_id, id, :now, :now, :expires_at, :user_agent, :secret_hash, "
    ":amr FROM login"
)


def current(db: Session, cookie: str | None, now: datetime) -> BrowserSession | None:
    """The live browser session the cookie names, binding its tenant; None when there is
    none, it ended or expired, or its user may not act now (disabled, tenant suspended)."""
    secret = presented_secrets.bind(db, KIND, cookie or "")
    if secret is None:
        return None
    found = db.scalar(
        select(LoginSession).where(
            LoginSession.tenant_id == secret.tenant_id,
            LoginSession.browser_secret_hash == secret.digest,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > now,
        )
    )
    if found is None:
        return None
    subject = subjects.load(db, found.tenant_id, found.user_id, now)
    if subject is None or may_act(subject.user_status, subject.tenant_status) is not None:
        return None
    found.last_used_at = now
    return BrowserSession(
        found.id, found.tenant_id, found.user_id, subject.tenant_slug, found.created_at, found.amr
    )


def step_up(db: Session, session: BrowserSession, amr: str) -> BrowserSession | None:
    """Raise a live browser session to the methods `amr` of the step it just passed (a
    second factor the request's `acr_values` asked for); audited `session.stepped_up`.
    None when the session ended meanwhile."""
    found = db.scalar(
        select(LoginSession)
        .where(
            LoginSession.tenant_id == session.tenant_id,
            LoginSession.id == session.id,
            LoginSession.revoked_at.is_(None),
        )
        .with_for_update()
    )
    if found is None:
        return None
    found.amr = amr
    audit.record(
        db,
        tenant_id=session.tenant_id,
        actor=f"user:{session.user_id}",
        action="session.stepped_up",
        target=f"session:{session.id}",
        data={"amr": amr.split()},
    )
    return dataclasses.replace(session, amr=amr)
