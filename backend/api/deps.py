"""Request dependencies: the runtime and its effects, the unit of work, and the scope guards."""

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer, SecurityScopes
from sqlalchemy.orm import Session

from backend.db.session import finish
from backend.domain.assurance import ACR_MFA, MFA
from backend.domain.errors import (
    InsufficientScopeError,
    InsufficientUserAuthenticationError,
    InvalidTokenError,
)
from backend.domain.scopes import SCOPE_DESCRIPTIONS, Scope
from backend.runtime import Runtime
from backend.services import api_keys, factors
from backend.services.effects import Effects
from backend.services.guard import authenticated_principal, remembered_principal
from backend.services.principals import Principal

T = TypeVar("T")

# The single OAuth2 scheme: its scope list is the catalogue, so /docs shows every scope.
# auto_error=False: a missing token must get our RFC 6750 401, not FastAPI's default.
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="token",
    scopes={scope.value: text for scope, text in SCOPE_DESCRIPTIONS.items()},
    auto_error=False,
)


def runtime_of(request: Request) -> Runtime:
    """The process's runtime. Hot paths call this rather than depend on `AppRuntime`:
    every dependency is one more for FastAPI to solve on each request."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


AppRuntime = Annotated[Runtime, Depends(get_runtime)]


async def get_effects(request: Request) -> Effects:
    return runtime_of(request).effects


# What a use case sets off after the commit: the principal cache, the job dispatcher.
AppEffects = Annotated[Effects, Depends(get_effects)]


async def get_db(request: Request) -> AsyncIterator[Session]:
    """The request's unit of work: committed after the route returns, before the response.

    Opening a session does no I/O, so it happens on the event loop; ending it takes a
    worker thread only if the request used the database. A guarded request answered
    from the principal cache, by a route that does not query, costs no thread here at all.
    """
    session = runtime_of(request).database.sessions()
    try:
        yield session
    except BaseException as exc:
        await _end(session, exc)
        raise
    else:
        await _end(session, None)


async def _end(session: Session, exc: BaseException | None) -> None:
    """Commit, or roll back on `exc` (see db.session.finish), and close."""
    if not session.in_transaction():
        # Nothing to commit or roll back: closing is all there is to do.
        session.close()
        return
    # Shielded, so a client that disconnects cannot leave the transaction open; and
    # outside the shared thread limit, as FastAPI does for sync dependencies: waiting for
    # a free thread while every thread waits for the connection we hold would deadlock.
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(finish, session, exc, limiter=anyio.CapacityLimiter(1))


# scope="function": commit before the response is sent, so a failed commit is an error
# response rather than a 200 for work that was lost.
DbSession = Annotated[Session, Depends(get_db, scope="function")]


async def in_thread(db: Session, work: Callable[[], T]) -> T:
    """Run a route's work in one worker thread and end its unit of work there.

    The same ending as `get_db`'s (commit; on an error roll back, or commit one that
    `keeps_changes`, and re-raise), in the work's own thread: one thread hop per request
    instead of two, and `get_db` then has nothing left to end. For async routes whose
    work touches the database.
    """

    def run() -> T:
        try:
            result = work()
        except BaseException as exc:
            finish(db, exc)
            raise
        finish(db, None)
        return result

    return await anyio.to_thread.run_sync(run)


# The alternative credential: a scoped API key, for scripts.
api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="A scoped API key (POST /api-keys); acts as its creator with its own scopes",
)


async def current_principal(
    security_scopes: SecurityScopes,
    request: Request,
    db: DbSession,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """Authenticate the bearer token or API key and require the route's scopes (RFC 6750).

    On the event loop when the process remembers the principal (the common case: no thread,
    no round trip); in a worker thread when the database must be asked.
    """
    runtime = runtime_of(request)
    # The guard decides once whether the principal is of the platform tenant (Principal.platform).
    platform_slug = runtime.settings.platform_tenant_slug
    if token:
        claims = runtime.tokens.decode(token)
        principal = remembered_principal(
            db, runtime.principal_cache, claims, platform_tenant_slug=platform_slug
        )
        if principal is None:
            principal = await run_in_threadpool(
                authenticated_principal,
                db,
                runtime.principal_cache,
                claims,
                platform_tenant_slug=platform_slug,
            )
    elif api_key:
        principal = await run_in_threadpool(
            api_keys.authenticate, db, api_key, platform_tenant_slug=platform_slug
        )
    else:
        raise InvalidTokenError("missing credentials: send a bearer token or an X-API-Key")
    if not principal.scopes.issuperset(security_scopes.scopes):
        raise InsufficientScopeError(security_scopes.scopes)
    return principal


async def stepped_up_principal(
    db: DbSession,
    principal: Annotated[Principal, Security(current_principal)],
) -> Principal:
    """The guard's `step_up` option, for routes that change credentials, roles or keys:
    a user who has a second factor must have used it for this token (`amr` holds `mfa`),
    else 401 `insufficient_user_authentication` (RFC 9470) tells the client to sign in
    again with it. An API key proves no second factor. Service accounts have none."""
    user_id = principal.user_id
    if user_id is None:
        return principal
    # The token's `amr`, on the principal: the guard decoded it once already.
    if MFA in principal.amr:
        return principal
    step = await run_in_threadpool(
        factors.login_step, db, principal.tenant_id, user_id, datetime.now(UTC)
    )
    if step is factors.LoginStep.SECOND_FACTOR:
        raise InsufficientUserAuthenticationError(ACR_MFA)
    return principal


def _guard(scope: Scope, *, step_up: bool = False) -> object:
    return Security(stepped_up_principal if step_up else current_principal, scopes=[scope])


# One alias per scope: a route names what it needs in its signature.
Me = Annotated[Principal, _guard(Scope.ME)]
UsersRead = Annotated[Principal, _guard(Scope.USERS_READ)]
UsersWrite = Annotated[Principal, _guard(Scope.USERS_WRITE)]
UsersDisable = Annotated[Principal, _guard(Scope.USERS_DISABLE)]
RolesRead = Annotated[Principal, _guard(Scope.ROLES_READ)]
RolesWrite = Annotated[Principal, _guard(Scope.ROLES_WRITE)]
RolesAssign = Annotated[Principal, _guard(Scope.ROLES_ASSIGN)]
ApiKeysManage = Annotated[Principal, _guard(Scope.API_KEYS_MANAGE)]
AuditRead = Annotated[Principal, _guard(Scope.AUDIT_READ)]
JobsRead = Annotated[Principal, _guard(Scope.JOBS_READ)]
TenantRead = Annotated[Principal, _guard(Scope.TENANT_READ)]
TenantManage = Annotated[Principal, _guard(Scope.TENANT_MANAGE)]
TenantsRead = Annotated[Principal, _guard(Scope.TENANTS_READ)]
TenantsWrite = Annotated[Principal, _guard(Scope.TENANTS_WRITE)]
ApisRead = Annotated[Principal, _guard(Scope.APIS_READ)]
ApisWrite = Annotated[Principal, _guard(Scope.APIS_WRITE)]
ClientsRead = Annotated[Principal, _guard(Scope.CLIENTS_READ)]
ClientsWrite = Annotated[Principal, _guard(Scope.CLIENTS_WRITE)]
StandingsRead = Annotated[Principal, _guard(Scope.STANDINGS_READ)]
# The same scopes, stepped up: a user with a second factor must have used it.
MeSteppedUp = Annotated[Principal, _guard(Scope.ME, step_up=True)]
UsersWriteSteppedUp = Annotated[Principal, _guard(Scope.USERS_WRITE, step_up=True)]
RolesAssignSteppedUp = Annotated[Principal, _guard(Scope.ROLES_ASSIGN, step_up=True)]
ApiKeysManageSteppedUp = Annotated[Principal, _guard(Scope.API_KEYS_MANAGE, step_up=True)]
