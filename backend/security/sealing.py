"""Sealed secrets: AES-256-GCM under keys derived from TESSERA_ENCRYPTION_KEY.

Each purpose (TOTP secrets at rest, task arguments on the queue) seals with its own key,
derived by HKDF-SHA256 with the purpose as `info`, so a value sealed for one cannot be
opened as another. A sealed value is `nonce (12 bytes) || ciphertext || tag`; the associated data
binds it to where it belongs (a factor's row), so a ciphertext copied to another row
does not open.

The key rotates: the current key always seals, and the retired ones
(TESSERA_ENCRYPTION_KEYS_RETIRED) still open what they sealed until `tessera reseal`
has moved every stored value to the current key (services/resealing.py). A sealed value
names no key: opening tries the current one, then each retired one, and GCM's tag
tells a wrong key from the right one.
"""

import os
from collections.abc import Sequence
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from backend.settings import Settings

_NONCE_BYTES = 12


class Purpose(StrEnum):
    TOTP_SECRET = "tessera/totp-secret"  # noqa: S105 (a purpose label)
    QUEUED_TASK = "tessera/queued-task"


class UnsealError(Exception):
    """The value was not sealed with these keys and purpose, or was altered."""


class Sealer:
    """Seals and opens values for one purpose. Build once per process."""

    def __init__(self, secret: bytes, purpose: Purpose, retired: Sequence[bytes] = ()) -> None:
        self._current = _aead(secret, purpose)
        self._retired = tuple(_aead(key, purpose) for key in retired)

    @classmethod
    def from_settings(cls, settings: Settings, purpose: Purpose) -> "Sealer":
        return cls(settings.sealing_secret(), purpose, settings.retired_sealing_secrets())

    def seal(self, plaintext: bytes, associated: bytes = b"") -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._current.encrypt(nonce, plaintext, associated)

    def open(self, sealed: bytes, associated: bytes = b"") -> bytes:
        for aead in (self._current, *self._retired):
            opened = _open(aead, sealed, associated)
            if opened is not None:
                return opened
        raise UnsealError("sealed value does not open")

    def reseal(self, sealed: bytes, associated: bytes = b"") -> bytes | None:
        """`sealed` sealed afresh under the current key if a retired key opens it; None
        when the current key does already (nothing to do); UnsealError when none does."""
        if _open(self._current, sealed, associated) is not None:
            return None
        return self.seal(self.open(sealed, associated), associated)


def _aead(secret: bytes, purpose: Purpose) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        secret
    )
    return AESGCM(key)


def _open(aead: AESGCM, sealed: bytes, associated: bytes) -> bytes | None:
    try:
        return aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated)
    except (InvalidTag, ValueError):
        return None
