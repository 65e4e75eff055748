"""Domain exceptions. They carry their meaning; api/errors.py maps them to HTTP."""

from collections.abc import Iterable, Sequence


class DomainError(Exception):
    """Base of every error the domain and services raise on purpose.

    The unit of work rolls back on an error, unless the error `keeps_changes`: a failed
    login must still count the failure, a reused refresh token must still revoke its
    family, even though the caller gets an error.
    """

    keeps_changes: bool = False


class NotFoundError(DomainError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class ConflictError(DomainError):
    """The request contradicts the current state (duplicate, last owner, ...)."""


class ForbiddenError(DomainError):
    """The actor lacks scopes the action needs."""

    def __init__(self, missing_scopes: Iterable[str]) -> None:
        self.missing_scopes = sorted(set(missing_scopes))
        super().__init__("missing scopes: " + " ".join(self.missing_scopes))


class UnknownScopeError(DomainError):
    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        super().__init__("unknown scope(s): " + " ".join(self.names))


class RoleCycleError(ConflictError):
    """Role inclusion would form a cycle; `cycle` lists the roles around it."""

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = list(cycle)
        super().__init__("role inclusion cycle: " + " -> ".join(self.cycle))


class InvalidSlugError(DomainError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"invalid tenant slug {slug!r}: use 2-63 characters of a-z, 0-9 and '-'")


class AuthenticationError(DomainError):
    """Base of the OAuth 2.0 token endpoint errors (RFC 6749 §5.2)."""

    code = "invalid_request"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InvalidRequestError(AuthenticationError):
    code = "invalid_request"


class InvalidGrantError(AuthenticationError):
    code = "invalid_grant"


class RefreshTokenReuseError(InvalidGrantError):
    """A rotated or revoked refresh token came back: its session is ended, and that is
    kept. Counted by the metrics as a reuse, not as an ordinary refused grant."""

    keeps_changes = True


class LoginFailedError(InvalidGrantError):
    """A failed password login in a known tenant: its audit event, the counted failure
    and any lockout it triggered are committed, though the client gets invalid_grant."""

    keeps_changes = True


class InvalidClientError(AuthenticationError):
    """Client authentication failed (RFC 6749 §5.2): answered 401 with a Basic challenge."""

    code = "invalid_client"


class FormClientError(AuthenticationError):
    """invalid_client for a client that named itself in the form rather than in an
    Authorization header: 400, since RFC 6749 §5.2 asks 401 only of the latter."""

    code = "invalid_client"


class UnauthorizedClientError(AuthenticationError):
    """The client is known but may not use this token grant (RFC 6749 §5.2)."""

    code = "unauthorized_client"


class InvalidScopeError(AuthenticationError):
    code = "invalid_scope"


class InvalidTargetError(AuthenticationError):
    """The `resource` of a token request names no API, more than one, or one the client
    may not ask for (RFC 8707 §2)."""

    code = "invalid_target"


class UnsupportedGrantTypeError(AuthenticationError):
    code = "unsupported_grant_type"


class RateLimitedError(DomainError):
    """Too many requests from one client; it may try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests; retry after {retry_after} seconds")
        self.retry_after = retry_after


class InvalidTokenError(DomainError):
    """A bearer token that is missing, malformed, expired, tampered with or revoked."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InsufficientScopeError(DomainError):
    """A valid token that lacks scopes the route needs (RFC 6750 §3.1)."""

    def __init__(self, required: Iterable[str]) -> None:
        self.required = sorted(set(required))
        super().__init__("token lacks scope(s): " + " ".join(self.required))


class MfaRequiredError(AuthenticationError):
    """The password was right, and the user has a second factor: the login goes on at
    the mfa grant with `mfa_token`. The challenge the token stands for is kept."""

    code = "mfa_required"
    keeps_changes = True

    def __init__(self, description: str, mfa_token: str) -> None:
        super().__init__(description)
        self.mfa_token = mfa_token


class SecondFactorFailedError(InvalidGrantError):
    """A wrong, replayed or missing second factor: counted towards the lockout like a
    wrong password, and the count is kept although the request fails."""

    keeps_changes = True


class InsufficientUserAuthenticationError(DomainError):
    """A valid token whose login was not strong enough for the route (RFC 9470): the
    client steps up, signing in again with its second factor."""

    def __init__(self, acr: str) -> None:
        super().__init__("this action needs a login with a second factor")
        self.acr = acr
