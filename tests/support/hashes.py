"""pbkdf2-sha256 hashes as passlib and Django write them, built here with hashlib alone,
so the tests do not check our parser against itself."""

import base64
import hashlib
import os


def passlib_pbkdf2(password: str, *, rounds: int = 29000, salt: bytes | None = None) -> str:
    """`$pbkdf2-sha256$ROUNDS$SALT$HASH`, salt and hash in passlib's adapted base64."""

    def ab64(raw: bytes) -> str:
        return base64.b64encode(raw).decode().rstrip("=").replace("+", ".")

    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
    return f"$pbkdf2-sha256${rounds}${ab64(salt)}${ab64(digest)}"


def django_pbkdf2(password: str, *, rounds: int = 870000, salt: str | None = None) -> str:
    """`pbkdf2_sha256$ROUNDS$SALT$HASH`: the salt used as text, the hash in base64."""
    salt = base64.b32encode(os.urandom(10)).decode() if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), rounds)
    return f"pbkdf2_sha256${rounds}${salt}${base64.b64encode(digest).decode()}"
