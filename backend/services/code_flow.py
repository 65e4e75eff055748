"""The authorization code flow: checking /authorize requests, issuing codes, and the
`authorization_code` grant at /token (RFC 6749 §4.1, RFC 7636, OpenID Connect Core).

A code is an opaque secret naming its tenant (security/opaque.py), stored as its hash,
valid 60 seconds, bound to the client, the redirect URI, the PKCE challenge, the tenant
and the user. Its exchange marks it used in the statement that finds it, so of two
concurrent exchanges one wins; a code that comes back after its use ends the session
the first exchange started and cuts the user's access tokens off (RFC 6749 §4.1.2).
"""

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from backend.db.models import AuthorizationCode, Client, LoginSession, User
from backend.db.tenant_context import enter_tenant
from backend.domain import code_flow as rules
from backend.domain.assurance import required_acr
from backend.domain.clients import GrantType
from backend.domain.code_flow import AuthorizeError, Prompt, RedirectionError, RequestedScopes
from backend.domain.errors import (
    InvalidGrantError,
    InvalidScopeError,
    InvalidTargetError,
    UnknownScopeError,
)
from backend.domain.scopes import format_scopes, parse_scopes
from backend.domain.standing import may_act
from backend.domain.token_lifetime import carried
from backend.security.opaque import new_secret
from backend.services import (
    audiences,
    audit,
    auth,
    clients,
    cutoff,
    presented_secrets,
    sessions,
    subjects,
)
from backend.services.effects import Effects

KIND = "ac"


class CodeReusedError(InvalidGrantError):
    """A code came back after its exchange: what that exchange issued is revoked, and
    that is kept though the request fails."""

    keeps_changes = True


@dataclass(frozen=True, slots=True)
class AuthorizeParams:
    """The parameters of an authorization request, as sent (query or form)."""

    response_type: str | None = None
    client_id: str | None = None
    redirect_uri: str | None = None
    scope: str | None = None
    state: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    nonce: str | None = None
    prompt: str | None = None
    login_hint: str | None = None
    tenant: str | None = None
    resource: str | None = None
    acr_values: str | None = None
    max_age: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A request /authorize accepted: who asks, where the answer goes, what for."""

    client: Client
    redirect_uri: str
    state: str | None
    scopes: RequestedScopes
    code_challenge: str
    nonce: str | None
    prompt: Prompt | None
    resource: str | None
    # The class of authentication the sign-in must reach (`acr_values`); None: any.
    acr: str | None = None
    # OpenID Connect `max_age`: a browser session whose sign-in is older asks again.
    max_age: int | None = None

    def error_redirect(self, error: AuthorizeError) -> str:
        """The client's redirect URI with the error and its state (RFC 6749 §4.1.2.1)."""
        return rules.redirect_with(
            self.redirect_uri,
            {"error": error.code, "error_description": error.description, "state": self.state},
        )


def registered_target(db: Session, params: AuthorizeParams) -> tuple[Client, str]:
    """The client and the redirect URI, exactly as registered; RedirectionError (an
    error page, never a redirect) when either cannot be trusted."""
    client = clients.by_client_id(db, params.client_id) if params.client_id else None
    if client is None:
        raise RedirectionError("the application is not registered (unknown client_id)")
    if not params.redirect_uri or params.redirect_uri not in client.redirect_uris:
        raise RedirectionError("redirect_uri is not one the application registered")
    return client, params.redirect_uri


def check_request(
    db: Session,
    client: Client,
    redirect_uri: str,
    params: AuthorizeParams,
    *,
    own_audience: str,
    oidc: bool,
) -> AuthorizationRequest:
    """The rest of the request's rules, each an AuthorizeError for the client: the code
    flow allowed to the client, PKCE S256, known scopes, an allowed resource; `oidc` says
    whether id_tokens can be signed (an asymmetric key ring)."""
    if params.state is not None and len(params.state) > rules.MAX_STATE_LENGTH:
        raise AuthorizeError("invalid_request", "state is too long")
    if params.response_type != "code":
        raise AuthorizeError("unsupported_response_type", "response_type must be code")
    if GrantType.AUTHORIZATION_CODE.value not in client.grant_types:
        raise AuthorizeError("unauthorized_client", "this client may not use the code flow")
    challenge = rules.check_challenge(params.code_challenge, params.code_challenge_method)
    scopes = RequestedScopes.parse(params.scope)
    try:
        parse_scopes(" ".join(scopes.api))
    except UnknownScopeError as exc:
        raise AuthorizeError("invalid_scope", str(exc)) from None
    if rules.OPENID in scopes.oidc and not oidc:
        raise AuthorizeError(
            "invalid_scope", "OpenID Connect needs TESSERA_JWT_ALGORITHM EdDSA or RS256"
        )
    resources = [] if params.resource is None else [params.resource]
    try:
        # The token grants' own rules: a registered API the client may name, known scopes.
        audiences.resolve(
            db, own_audience, resources, frozenset(scopes.api), allowed=client.resources
        )
    except (InvalidTargetError, InvalidScopeError) as exc:
        raise AuthorizeError(exc.code, exc.description) from None
    if params.nonce is not None and len(params.nonce) > 500:
        raise AuthorizeError("invalid_request", "nonce is too long")
    try:
        prompt = Prompt(params.prompt) if params.prompt else None
    except ValueError:
        raise AuthorizeError("invalid_request", "prompt must be login or none") from None
    return AuthorizationRequest(
        acr=required_acr(params.acr_values),
        max_age=rules.parse_max_age(params.max_age),
        client=client,
        redirect_uri=redirect_uri,
        state=params.state,
        scopes=scopes,
        code_challenge=challenge,
        nonce=params.nonce,
        prompt=prompt,
        resource=params.resource,
    )


def issue_code(
    db: Session,
    request: AuthorizationRequest,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    auth_time: datetime,
    amr: str,
    now: datetime,
) -> str:
    """A code for the signed-in user, who authenticated with the methods `amr`, and the
    redirect that carries it with the state."""
    secret = new_secret(KIND, tenant_id)
    names = [*request.scopes.api, *sorted(request.scopes.oidc)]
    db.add(
        AuthorizationCode(
            tenant_id=tenant_id,
            code_hash=secret.digest,
            client_id=request.client.id,
            user_id=user_id,
            redirect_uri=request.redirect_uri,
            code_challenge=request.code_challenge,
            scope=" ".join(names),
            resource=request.resource,
            nonce=request.nonce,
            auth_time=auth_time,
            amr=amr,
            created_at=now,
            expires_at=now + timedelta(seconds=rules.CODE_LIFETIME_SECONDS),
        )
    )
    db.flush()
    return rules.redirect_with(request.redirect_uri, {"code": secret.value, "state": request.state})


@dataclass(frozen=True, slots=True)
class CodeExchange:
    code: str
    client: Client
    redirect_uri: str | None
    code_verifier: str | None
    user_agent: str
    # The token request's `resource` values: none, or the code's (RFC 8707 §2.2).
    resources: Sequence[str] = ()


def code_grant(
    db: Session, effects: Effects, issuers: auth.Issuers, exchange: CodeExchange, now: datetime
) -> auth.TokenGrant:
    """RFC 6749 §4.1.3: exchange a code for an access token, a refresh token when
    `offline_access` was asked by a client allowed refresh, and an id_token when `openid`
    was. Every mismatch is invalid_grant with one message, so it tells nothing."""
    secret = presented_secrets.bind(db, KIND, exchange.code)
    if secret is None:
        raise InvalidGrantError("the code is invalid, expired or used")
    code = db.scalar(
        update(AuthorizationCode)
        .where(
            AuthorizationCode.tenant_id == secret.tenant_id,
            AuthorizationCode.code_hash == secret.digest,
            AuthorizationCode.used_at.is_(None),
        )
        .values(used_at=now)
        .returning(AuthorizationCode)
    )
    if code is None:
        _revoke_reused(db, effects, secret.tenant_id, secret.digest, now)
        raise InvalidGrantError("the code is invalid, expired or used")
    if (
        code.expires_at <= now
        or code.client_id != exchange.client.id
        or code.redirect_uri != exchange.redirect_uri
        or not rules.verifier_matches(exchange.code_verifier, code.code_challenge)
    ):
        # Refused, and spent all the same: a code is tried once.
        raise _SpentCodeError("the code is invalid, expired or used, or the verifier is wrong")
    subject = subjects.load(db, code.tenant_id, code.user_id, now)
    refusal = None if subject is None else may_act(subject.user_status, subject.tenant_status)
    if subject is None or refusal is not None:
        raise _SpentCodeError("this account may not sign in now")
    requested = RequestedScopes.parse(code.scope)
    wanted = parse_scopes(" ".join(requested.api))
    held = subject.scopes_in(issuers.platform_tenant_slug)
    # The code's API; a token request naming another is invalid_target.
    audience = audiences.for_session(
        db, issuers.codec.audience, code.resource, exchange.resources, wanted
    )
    issued_at = int(now.timestamp())
    granted = carried(audience.grant(wanted, held), subject.lapses, issued_at)
    scope = " ".join(filter(None, [format_scopes(granted.scopes), *sorted(requested.oidc)]))
    amr = tuple(code.amr.split())
    refresh_token = None
    if rules.OFFLINE_ACCESS in requested.oidc and (
        GrantType.REFRESH_TOKEN.value in exchange.client.grant_types
    ):
        refresh_token, params = sessions.start_session(
            issuers.refresh,
            tenant_id=code.tenant_id,
            user_id=code.user_id,
            scope=scope,
            user_agent=exchange.user_agent,
            now=now,
            amr=code.amr,
            resource=audience.stored,
        )
        db.execute(_START_FOR_CODE, {**params, "code_id": code.id})
    # The password and mfa grants' own issuing: the same claims, `amr` and `acr`.
    issued = auth.issue(
        issuers,
        code.tenant_id,
        code.user_id,
        subject.token_version,
        granted,
        issued_at,
        refresh_token,
        audience,
        oidc=requested.oidc,
        amr=amr,
    )
    id_token = None
    if rules.OPENID in requested.oidc:
        id_token = issuers.id_tokens.sign(
            user_id=code.user_id,
            tenant_id=code.tenant_id,
            client_id=exchange.client.client_id,
            auth_time=int(code.auth_time.timestamp()),
            access_token=issued.access_token,
            nonce=code.nonce,
            claims=user_claims(db, code.tenant_id, code.user_id, requested.oidc),
            amr=amr,
            now=issued_at,
        )
    audit.record(
        db,
        tenant_id=code.tenant_id,
        actor=f"user:{code.user_id}",
        action="auth.code_exchanged",
        target=f"client:{exchange.client.id}",
        data={"scope": scope},
    )
    return dataclasses.replace(issued, id_token=id_token)


class _SpentCodeError(InvalidGrantError):
    """A refused exchange that still spends the code (its used_at is kept)."""

    keeps_changes = True


# The refresh session of an exchange, and the code's note of it (for a reuse to end).
_START_FOR_CODE = text(
    f"WITH {sessions.START_SESSION_CTES} "  # noqa: S608 (module constants only)
    "UPDATE authorization_codes SET session_id = :family_id "
    "WHERE tenant_id = :tenant_id AND id = :code_id"
)


def _revoke_reused(
    db: Session, effects: Effects, tenant_id: uuid.UUID, digest: bytes, now: datetime
) -> None:
    """A used code came back: end its exchange's session and cut its user off."""
    code = db.scalar(
        select(AuthorizationCode).where(
            AuthorizationCode.tenant_id == tenant_id, AuthorizationCode.code_hash == digest
        )
    )
    if code is None:
        return
    if code.session_id is not None:
        session = db.get(LoginSession, (tenant_id, code.session_id), with_for_update=True)
        if session is not None:
            sessions.revoke_session(db, session, reason="code_reused", now=now)
    cutoff.users(db, effects, tenant_id, [code.user_id], reason=cutoff.Reason.CODE_REUSED)
    audit.record(
        db,
        tenant_id=tenant_id,
        actor=audit.ANONYMOUS,
        action="auth.code_reused",
        target=f"user:{code.user_id}",
        data={"code_id": str(code.id), "session": str(code.session_id)},
    )
    raise CodeReusedError("the code was already used; what it issued is revoked")


def user_claims(
    db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, scopes: frozenset[str]
) -> dict[str, object]:
    """The OpenID Connect claims the scopes ask for: `email` (and `email_verified`, whether
    the user followed a link mailed to it: services/email_verification.py), `name` for
    `profile`."""
    enter_tenant(db, tenant_id)
    user = db.get_one(User, (tenant_id, user_id))
    claims: dict[str, object] = {}
    if rules.EMAIL in scopes:
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified_at is not None
    if rules.PROFILE in scopes:
        claims["name"] = user.full_name
    return claims
