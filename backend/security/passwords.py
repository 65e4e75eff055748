"""Password hashing with pwdlib (argon2id), bounded to the machine's cores.

Hashing is slow on purpose (~100 ms with production parameters). Callers run it in a
worker thread, never on the event loop, and a semaphore keeps concurrent hashes to the
core count so a burst of logins queues instead of starving every other request.
"""

import os
import secrets
import threading
from functools import cached_property

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from backend.settings import Settings


class PasswordService:
    def __init__(self, settings: Settings) -> None:
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    memory_cost=settings.argon2_memory_cost_kib,
                    time_cost=settings.argon2_time_cost,
                    parallelism=settings.argon2_parallelism,
                ),
            )
        )
        slots = settings.password_hash_concurrency or os.cpu_count() or 1
        self._slots = threading.BoundedSemaphore(slots)

    def hash(self, password: str) -> str:
        with self._slots:
            return self._hash.hash(password)

    def verify(self, password: str, password_hash: str | None) -> bool:
        """True if `password` matches. A missing hash still costs one verification.

        Unknown users and users without a password take as long as wrong passwords,
        so response time does not reveal which accounts exist.
        """
        with self._slots:
            if password_hash is None:
                self._hash.verify(password, self._dummy_hash)
                return False
            return self._hash.verify(password, password_hash)

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hash.hash(secrets.token_urlsafe(32))
