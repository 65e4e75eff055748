"""Passkeys (WebAuthn): the rules Tessera adds to what the W3C spec and py_webauthn check.

Pure: what a challenge is for and how long it lives, when a signature counter says the
credential was cloned, and which RFC 8176 method a credential proves.
"""

from datetime import timedelta
from enum import StrEnum

from backend.domain.assurance import HARDWARE_KEY, SOFTWARE_KEY

# A ceremony's challenge lives this long: what browsers give the person by default
# (WebAuthn's recommended timeout is 5 minutes), and the mfa_token's own lifetime.
CHALLENGE_TTL = timedelta(minutes=5)
CHALLENGE_BYTES = 32
# The options' `timeout`, in milliseconds, for the browser.
TIMEOUT_MS = int(CHALLENGE_TTL.total_seconds() * 1000)
# A credential's JSON from a browser is a few hundred bytes to a few kilobytes (an
# attestation certificate chain); more is not a credential.
MAX_CREDENTIAL_JSON = 64 * 1024


class Ceremony(StrEnum):
    """What a challenge was issued for; one is never accepted for another."""

    # Adding a passkey to the signed-in user's factors.
    REGISTRATION = "registration"
    # A passkey as the second factor after a password (hosted page or the mfa grant).
    SECOND_FACTOR = "second_factor"
    # A passkey alone, as the first factor (the tenant's `passkey_login`).
    SIGN_IN = "sign_in"


def counter_advanced(stored: int, presented: int) -> bool:
    """Whether an assertion's signature counter is one the credential can show now.

    WebAuthn §6.1.1: an authenticator that counts sends a larger count each time; one
    that does not count sends 0 for ever (synced passkeys do). A count that does not go
    up, from a credential that counted before, means two copies of the key are in use:
    the credential may have been cloned.
    """
    if stored == 0 and presented == 0:
        return True
    return presented > stored


def key_method(backup_eligible: bool) -> str:
    """The RFC 8176 method a passkey proves: `swk` for a credential its authenticator
    may back up or sync (the key can leave the device, so it is software's to guard),
    `hwk` for one bound to its authenticator.

    Decided from the backup-eligibility flag, which the authenticator signs and which
    stays what it was at registration, not from `authenticatorAttachment`: that one is
    the browser's unsigned word on how the authenticator is connected, not on where the
    key lives."""
    return SOFTWARE_KEY if backup_eligible else HARDWARE_KEY
