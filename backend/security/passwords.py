"""Password hashing with pwdlib (argon2id), bounded to the machine's cores.

Hashing is slow on purpose (~100 ms with production parameters). Callers run it in a
worker thread, never on the event loop, and a semaphore keeps concurrent hashes to the
core count so a burst of logins queues instead of starving every other request.

New hashes are argon2id. Hashes imported from an older system (argon2 with other
parameters, bcrypt, pbkdf2-sha256: see backend/domain/password_hashes.py) still verify,
and a successful verification hands back an argon2id hash to store in their place.
"""

import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass
from functools import cached_property

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.base import HasherProtocol, ensure_bytes, ensure_str
from pwdlib.hashers.bcrypt import BcryptHasher

from backend.domain.password_hashes import parse_pbkdf2_sha256
from backend.settings import Settings

# bcrypt reads at most this many bytes of a password.
BCRYPT_MAX_BYTES = 72


class LegacyBcryptHasher(BcryptHasher):
    """Verifies bcrypt hashes as the systems that wrote them did.

    bcrypt ignores everything past 72 bytes, and the libraries that wrote our legacy
    hashes truncated silently; bcrypt>=5 raises instead. Truncating here lets a user with
    a long password log in once, after which their hash is argon2id over all of it.
    """

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        raw = password.encode() if isinstance(password, str) else password
        return super().verify(raw[:BCRYPT_MAX_BYTES], hash)


class Pbkdf2Sha256Hasher(HasherProtocol):
    """Verifies pbkdf2-sha256 hashes in passlib's and Django's formats; makes none.

    Such a hash is only ever imported, and is replaced at its user's first login.
    """

    @classmethod
    def identify(cls, hash: str | bytes) -> bool:
        return parse_pbkdf2_sha256(ensure_str(hash)) is not None

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        raise NotImplementedError("new hashes are argon2id; pbkdf2-sha256 is only verified")

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        parsed = parse_pbkdf2_sha256(ensure_str(hash))
        if parsed is None:
            return False
        derived = hashlib.pbkdf2_hmac(
            "sha256", ensure_bytes(password), parsed.salt, parsed.rounds, len(parsed.digest)
        )
        return hmac.compare_digest(derived, parsed.digest)

    def check_needs_rehash(self, hash: str | bytes) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    # Set when the stored hash is legacy (bcrypt, pbkdf2) or uses other argon2 parameters than
    # the current ones: the same password hashed afresh, to be stored in its place.
    new_hash: str | None = None


class PasswordService:
    def __init__(self, settings: Settings) -> None:
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    memory_cost=settings.argon2_memory_cost_kib,
                    time_cost=settings.argon2_time_cost,
                    parallelism=settings.argon2_parallelism,
                ),
                LegacyBcryptHasher(),
                Pbkdf2Sha256Hasher(),
            )
        )
        slots = settings.password_hash_concurrency or os.cpu_count() or 1
        self._slots = threading.BoundedSemaphore(slots)

    def hash(self, password: str) -> str:
        with self._slots:
            return self._hash.hash(password)

    def verify_and_update(self, password: str, password_hash: str | None) -> Verification:
        """Check `password` against the stored hash. A missing hash (unknown user, no
        password) or one in a format we cannot read still costs one verification.

        Unknown users take as long as wrong passwords, so response time does not reveal
        which accounts exist.
        """
        with self._slots:
            if password_hash is not None:
                try:
                    ok, new_hash = self._hash.verify_and_update(password, password_hash)
                    return Verification(ok=ok, new_hash=new_hash)
                except UnknownHashError:
                    pass
            self._hash.verify(password, self._dummy_hash)
            return Verification(ok=False)

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hash.hash(secrets.token_urlsafe(32))
