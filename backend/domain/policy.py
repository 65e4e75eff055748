"""Policies that hold everywhere: passwords (NIST SP 800-63B), no escalation, lockout."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from backend.domain.errors import DomainError, ForbiddenError

DEFAULT_MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
DEFAULT_LOCKOUT_THRESHOLD = 5
DEFAULT_LOCKOUT_MINUTES = 15


class WeakPasswordError(DomainError):
    pass


def check_password(password: str, *, min_length: int = DEFAULT_MIN_PASSWORD_LENGTH) -> None:
    """Length only, no composition rules, as SP 800-63B recommends.

    The upper bound keeps a hostile client from making us hash megabytes.
    """
    if len(password) < min_length:
        raise WeakPasswordError(f"password must be at least {min_length} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(f"password must be at most {MAX_PASSWORD_LENGTH} characters")


def require_within(actor_scopes: Iterable[str], wanted: Iterable[str]) -> None:
    """No escalation: an actor may hand out only scopes they hold themselves.

    Raises ForbiddenError naming every missing scope. Applies to creating, editing,
    assigning and revoking roles, and to what service accounts and API keys may do.
    """
    missing = set(wanted) - set(actor_scopes)
    if missing:
        raise ForbiddenError(missing)


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    """The parts of `tenants.policy` (JSON) that login reads, with their defaults.

    Lockout: after `lockout_threshold` wrong passwords in a row the account is locked
    for `lockout_minutes`.
    """

    lockout_threshold: int = DEFAULT_LOCKOUT_THRESHOLD
    lockout_minutes: int = DEFAULT_LOCKOUT_MINUTES

    @classmethod
    def from_json(cls, raw: Mapping[str, object] | None) -> "TenantPolicy":
        """Read a stored policy leniently: a missing or malformed value takes its default,
        an out-of-range one is clamped, unknown keys are ignored.

        Lenient because the policy is read on every login: a bad value written by hand
        must not lock a whole tenant out, and a clamp keeps it from disabling the defence
        (a threshold of 0) or locking accounts for ever.
        """
        raw = raw or {}
        return cls(
            lockout_threshold=_bounded_int(
                raw.get("lockout_threshold"), DEFAULT_LOCKOUT_THRESHOLD, 1, 100
            ),
            lockout_minutes=_bounded_int(
                raw.get("lockout_minutes"), DEFAULT_LOCKOUT_MINUTES, 1, 24 * 60
            ),
        )


def _bounded_int(value: object, default: int, low: int, high: int) -> int:
    # bool is an int in Python, but `true` is no threshold.
    if not isinstance(value, int) or isinstance(value, bool):
        return default
    return min(max(value, low), high)
