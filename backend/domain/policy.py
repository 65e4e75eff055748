"""Policies that hold everywhere: for now, the password policy (NIST SP 800-63B)."""

from backend.domain.errors import DomainError

DEFAULT_MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024


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
