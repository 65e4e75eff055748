"""The scope catalogue: every permission Tessera knows, as `resource:action` strings,
and the other scope names a token request may carry (OpenID Connect's).

This enum is the single source for the OpenAPI OAuth2 scheme, the route guards and
role validation. Tenant scopes can be granted in any tenant; platform scopes only in
the platform tenant.
"""

import re
from enum import StrEnum

from backend.domain.apis import MAX_SCOPE_LENGTH, SCOPE_NAME_PATTERN
from backend.domain.errors import UnknownScopeError


class Scope(StrEnum):
    ME = "me"
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    USERS_DISABLE = "users:disable"
    ROLES_READ = "roles:read"
    ROLES_WRITE = "roles:write"
    ROLES_ASSIGN = "roles:assign"
    API_KEYS_MANAGE = "api_keys:manage"
    AUDIT_READ = "audit:read"
    JOBS_READ = "jobs:read"
    TENANT_READ = "tenant:read"
    TENANT_MANAGE = "tenant:manage"
    TENANTS_READ = "tenants:read"
    TENANTS_WRITE = "tenants:write"
    APIS_READ = "apis:read"
    APIS_WRITE = "apis:write"
    STANDINGS_READ = "standings:read"
    CLIENTS_READ = "clients:read"
    CLIENTS_WRITE = "clients:write"
    TOKENS_INTROSPECT = "tokens:introspect"


SCOPE_DESCRIPTIONS: dict[Scope, str] = {
    Scope.ME: "Read your own profile and manage your own sessions",
    Scope.USERS_READ: "List and read users of your tenant",
    Scope.USERS_WRITE: "Create and edit users of your tenant",
    Scope.USERS_DISABLE: "Disable, enable, unlock and offboard users of your tenant",
    Scope.ROLES_READ: "List and read roles",
    Scope.ROLES_WRITE: "Create, edit and delete roles",
    Scope.ROLES_ASSIGN: "Grant and revoke roles to users",
    Scope.API_KEYS_MANAGE: "Manage service accounts and API keys",
    Scope.AUDIT_READ: "Read the audit log",
    Scope.JOBS_READ: "Read lifecycle jobs and their progress",
    Scope.TENANT_READ: "Read your tenant's settings",
    Scope.TENANT_MANAGE: "Change your tenant's settings and policy",
    Scope.TENANTS_READ: "Platform: list and read tenants",
    Scope.TENANTS_WRITE: "Platform: create and suspend tenants",
    Scope.APIS_READ: "Platform: list and read the product's APIs and their scopes",
    Scope.APIS_WRITE: "Platform: declare, edit and remove the product's APIs and scopes",
    Scope.STANDINGS_READ: "Platform: follow the standings feed (resource servers' cut-off)",
    Scope.CLIENTS_READ: "Platform: list and read clients (applications users sign in to)",
    Scope.CLIENTS_WRITE: "Platform: register, change and delete clients",
    Scope.TOKENS_INTROSPECT: "Introspect tokens (POST /introspect, RFC 7662): your tenant's; "
    "from the platform tenant, any tenant's",
}

PLATFORM_SCOPES: frozenset[Scope] = frozenset(
    {
        Scope.TENANTS_READ,
        Scope.TENANTS_WRITE,
        Scope.APIS_READ,
        Scope.APIS_WRITE,
        Scope.STANDINGS_READ,
        Scope.CLIENTS_READ,
        Scope.CLIENTS_WRITE,
    }
)
TENANT_SCOPES: frozenset[Scope] = frozenset(Scope) - PLATFORM_SCOPES
READ_SCOPES: frozenset[Scope] = frozenset(
    s for s in TENANT_SCOPES if s.value.endswith(":read") or s is Scope.ME
)

# OpenID Connect's scopes: they ask for an id_token, claims and a refresh token, not
# for access to an API, so they are not in the catalogue; the code flow grants them.
OPENID = "openid"
PROFILE = "profile"
EMAIL = "email"
OFFLINE_ACCESS = "offline_access"
OIDC_SCOPES = frozenset({OPENID, PROFILE, EMAIL, OFFLINE_ACCESS})


# A scope name as a request may give it: a catalogue name, or `resource:action` as every
# product scope is (domain/apis.py). Whether one is registered is the token grant's
# question (services/audiences.py): this is only the shape.
_SCOPE_NAME = re.compile(SCOPE_NAME_PATTERN)
_RESOURCE_ACTION = SCOPE_NAME_PATTERN.removeprefix("^").removesuffix("$")


def _one_of(names: list[str]) -> str:
    """The names given, or `resource:action`, as one regular expression."""
    return "(?:{})".format("|".join([*(re.escape(n) for n in names), _RESOURCE_ACTION]))


# Catalogue names that are not `resource:action` (`me`).
_NAMED = [s.value for s in Scope if not _SCOPE_NAME.match(s)]
_SHAPE = _one_of(_NAMED)
# One scope name of that shape, for OpenAPI (a role's scopes); at most MAX_SCOPE_LENGTH.
SCOPE_PATTERN = f"^{_SHAPE}$"
# What the `scope` of POST /token accepts, as a regular expression for OpenAPI: names of
# that shape, and OpenID Connect's, separated by whitespace, which may also surround them.
# Every grant sets OpenID Connect's names aside (RequestedScopes) and parses the rest
# with parse_scopes: a refresh of a code-flow session repeats them, as Authlib does, and
# keeps those the session had.
TOKEN_SCOPE_PATTERN = (
    rf"^\s*(?:(?=\S{{1,{MAX_SCOPE_LENGTH}}}(?:\s|$))"
    rf"{_one_of([*_NAMED, *sorted(OIDC_SCOPES)])}(?:\s+|$))*$"
)


def parse_scopes(raw: str | None) -> frozenset[str]:
    """Parse a space-separated scope string (RFC 6749 §3.3) into scope names.

    Raises UnknownScopeError naming every word that cannot be a scope: neither a
    catalogue name nor `resource:action`.
    """
    if not raw:
        return frozenset()
    names = raw.split()
    unknown = sorted({name for name in names if not is_scope_name(name)})
    if unknown:
        raise UnknownScopeError(unknown)
    return frozenset(names)


def is_scope_name(name: str) -> bool:
    """Whether `name` is shaped as a scope: in the catalogue, or `resource:action`."""
    return name in _CATALOGUE or (
        len(name) <= MAX_SCOPE_LENGTH and _SCOPE_NAME.match(name) is not None
    )


def effective_in(scopes: frozenset[str], *, platform: bool) -> frozenset[str]:
    """The scopes a role grants in a tenant: platform scopes only in the platform tenant;
    every other scope (tenant scopes of the catalogue, product scopes) in any tenant."""
    return scopes if platform else scopes - PLATFORM_SCOPES


_CATALOGUE: frozenset[str] = frozenset(Scope)


def format_scopes(scopes: frozenset[str] | set[str]) -> str:
    """The canonical space-separated form: sorted, so equal sets give equal strings."""
    return " ".join(sorted(scopes))
