"""Sealed secrets: AES-256-GCM under keys derived from TESSERA_ENCRYPTION_KEY.

Each purpose (TOTP secrets at rest, task arguments on the queue) seals with its own key,
derived by HKDF-SHA256 with the purpose as `info`, so a value sealed for one cannot be
opened as another. A sealed value is `nonce (12 bytes) || ciphertext || tag`; the associated data
binds it to where it belongs (a factor's row), so a ciphertext copied to another row
does not open.
"""

import os
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12


class Purpose(StrEnum):
    TOTP_SECRET = "tessera/totp-secret"  # noqa: S105 (a purpose label)
    QUEUED_TASK = "tessera/queued-task"


class UnsealError(Exception):
    """The value was not sealed with this key and purpose, or was altered."""


class Sealer:
    """Seals and opens values for one purpose. Build once per process."""

    def __init__(self, secret: bytes, purpose: Purpose) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
            secret
        )
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, associated: bytes = b"") -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, associated)

    def open(self, sealed: bytes, associated: bytes = b"") -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated)
        except (InvalidTag, ValueError) as exc:
            raise UnsealError("sealed value does not open") from exc
