"""Policies that hold everywhere: passwords (NIST SP 800-63B), no escalation, lockout."""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources

from backend.domain.errors import DomainError, ForbiddenError, InvalidRequestError

DEFAULT_MIN_PASSWORD_LENGTH = 12
# A tenant may ask for more, never for less than SP 800-63B's floor of 8.
MIN_PASSWORD_LENGTH_FLOOR = 8
MIN_PASSWORD_LENGTH_CEILING = 128
MAX_PASSWORD_LENGTH = 1024
# check_password's "one character repeated" rule as a regular expression, for OpenAPI
# (a test holds the two equal): not one character then only copies of it. The end is
# `(?![\s\S])`, the end of input in every dialect, where `$` may match before a newline.
NOT_ONE_CHARACTER_REPEATED = r"^(?!([\s\S])\1*(?![\s\S]))"
# NIST SP 800-63B-4 §3.2.2 allows at most 100 consecutive failures before a lockout,
# and slowing guesses down before that: a short pause after a few, growing with each.
DEFAULT_LOCKOUT_THRESHOLD = 100
DEFAULT_LOCKOUT_MINUTES = 15
DEFAULT_THROTTLE_AFTER = 5
DEFAULT_THROTTLE_SECONDS = 30
# Second factors (TenantPolicy.mfa): turned off, the user's choice, or required of all.
MFA_OFF, MFA_OPTIONAL, MFA_REQUIRED = "off", "optional", "required"
DEFAULT_MFA_GRACE_DAYS = 14
# Past this many doublings the pause is at its cap whatever the settings; it keeps the
# power of two small.
_MAX_DOUBLINGS = 32


class WeakPasswordError(DomainError):
    pass


class WrongPasswordError(InvalidRequestError):
    """The current password, given to change it, is wrong. Counted like a failed login,
    and the count (with any lockout it triggers) is kept although the request fails."""

    keeps_changes = True


class PasswordChecksPausedError(InvalidRequestError):
    """The account is locked (see TenantPolicy), so its password is not being checked,
    whatever was given. Said to a principal already signed in as the account, for whom it
    tells nothing about the password; a login gets the generic invalid_grant instead.
    Any failure counted on the way is kept although the request fails."""

    keeps_changes = True


def check_password(password: str, *, min_length: int = DEFAULT_MIN_PASSWORD_LENGTH) -> None:
    """SP 800-63B: a length range and a blocklist, no composition rules.

    The upper bound keeps a hostile client from making us hash megabytes. The blocklist
    holds well-known passwords (compared case-insensitively) and one character repeated.
    """
    if len(password) < min_length:
        raise WeakPasswordError(f"password must be at least {min_length} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
    if password.lower() in common_passwords() or len(set(password)) == 1:
        raise WeakPasswordError(
            "this password is too common and easily guessed; choose another "
            "(a few unrelated words make a strong one)"
        )


@cache
def common_passwords() -> frozenset[str]:
    """The bundled blocklist (lowercase, one a line, `#` comments), read once."""
    text = resources.files("backend.domain").joinpath("data/common-passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


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
    """The parts of `tenants.policy` (JSON) that login and passwords read, with defaults.

    Lockout, which stops password checks and nothing else: from the `throttle_after`-th
    wrong password in a row, each one pauses password checks for `throttle_seconds`,
    doubled with every further one, at most `lockout_minutes`; the `lockout_threshold`-th
    locks the account for `lockout_minutes`. New passwords need `password_min_length`
    characters.
    """

    lockout_threshold: int = DEFAULT_LOCKOUT_THRESHOLD
    lockout_minutes: int = DEFAULT_LOCKOUT_MINUTES
    password_min_length: int = DEFAULT_MIN_PASSWORD_LENGTH
    # Users idle longer than this are disabled by the nightly sweep; None turns it off.
    inactivity_days: int | None = None
    # At or above lockout_threshold the throttle never starts: the lock comes first.
    throttle_after: int = DEFAULT_THROTTLE_AFTER
    throttle_seconds: int = DEFAULT_THROTTLE_SECONDS
    # `off`: no factor is enrolled or asked; `optional`: asked of users who enrolled one;
    # `required`: also, a user without one who has had `mfa_grace_days` since joining
    # gets tokens for `me` only, enough to enrol, until they do.
    mfa: str = MFA_OPTIONAL
    mfa_grace_days: int = DEFAULT_MFA_GRACE_DAYS

    def locks_at(self, failures: int) -> bool:
        """Whether `failures` wrong passwords in a row lock the account (not a pause)."""
        return failures >= self.lockout_threshold

    def pause_after(self, failures: int) -> timedelta | None:
        """How long password checks stop after the `failures`-th wrong password in a row:
        None before the throttle starts, the lock's time at the threshold."""
        lock = timedelta(minutes=self.lockout_minutes)
        if self.locks_at(failures):
            return lock
        if failures < self.throttle_after:
            return None
        doublings = min(failures - self.throttle_after, _MAX_DOUBLINGS)
        return min(timedelta(seconds=self.throttle_seconds * 2**doublings), lock)

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
            password_min_length=_bounded_int(
                raw.get("password_min_length"),
                DEFAULT_MIN_PASSWORD_LENGTH,
                MIN_PASSWORD_LENGTH_FLOOR,
                MIN_PASSWORD_LENGTH_CEILING,
            ),
            inactivity_days=(
                None
                if raw.get("inactivity_days") is None
                else _bounded_int(raw.get("inactivity_days"), 90, 1, 3650)
            ),
            throttle_after=_bounded_int(raw.get("throttle_after"), DEFAULT_THROTTLE_AFTER, 1, 100),
            throttle_seconds=_bounded_int(
                raw.get("throttle_seconds"), DEFAULT_THROTTLE_SECONDS, 1, 3600
            ),
            mfa=(
                str(raw["mfa"])
                if raw.get("mfa") in (MFA_OFF, MFA_OPTIONAL, MFA_REQUIRED)
                else MFA_OPTIONAL
            ),
            mfa_grace_days=_bounded_int(raw.get("mfa_grace_days"), DEFAULT_MFA_GRACE_DAYS, 0, 365),
        )

    def enrolment_overdue(self, joined: datetime, now: datetime) -> bool:
        """Whether a user without a factor who joined at `joined` is past the grace."""
        return self.mfa == MFA_REQUIRED and now >= joined + timedelta(days=self.mfa_grace_days)

    def grace_days_left(self, joined: datetime, now: datetime) -> int:
        """Whole days, rounded up, until a user who joined at `joined` must have enrolled
        a factor under `required`; 0 once overdue."""
        left = joined + timedelta(days=self.mfa_grace_days) - now
        return max(0, math.ceil(left / timedelta(days=1)))


def _bounded_int(value: object, default: int, low: int, high: int) -> int:
    # bool is an int in Python, but `true` is no threshold.
    if not isinstance(value, int) or isinstance(value, bool):
        return default
    return min(max(value, low), high)
