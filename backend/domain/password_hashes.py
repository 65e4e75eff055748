"""The password hash formats Tessera verifies: its own argon2id, and those it imports.

An imported hash is stored as it is (the password behind it is unknown) and replaced
by an argon2id hash with the current parameters at the user's next successful login.
The formats, as the common libraries write them:

- argon2 (PHC string): `$argon2id$v=19$m=65536,t=3,p=4$SALT$HASH`, also argon2i and
  argon2d; argon2-cffi, pwdlib (fastapi-users), passlib and Django write it.
- bcrypt: `$2b$12$` + 53 characters, also `$2a$` and `$2y$`; bcrypt, pwdlib, passlib.
- pbkdf2-sha256 in passlib's format, `$pbkdf2-sha256$ROUNDS$SALT$HASH` (salt and
  hash in passlib's adapted base64: `.` for `+`, no padding), and in Django's,
  `pbkdf2_sha256$ROUNDS$SALT$HASH` (the salt used as text, the hash in base64).

Costs are bounded at import: a hash that would take many seconds (or gigabytes) to
verify would hold one of the few hashing slots that every login shares.
"""

import base64
import binascii
import re
from dataclasses import dataclass
from enum import StrEnum

MAX_HASH_LENGTH = 255
MAX_BCRYPT_COST = 16
MAX_PBKDF2_ROUNDS = 10_000_000
MAX_ARGON2_MEMORY_KIB = 1_048_576
MAX_ARGON2_TIME_COST = 32
MAX_ARGON2_PARALLELISM = 32
PBKDF2_SHA256_DIGEST_SIZE = 32


class HashScheme(StrEnum):
    ARGON2 = "argon2"
    BCRYPT = "bcrypt"
    PBKDF2_SHA256 = "pbkdf2_sha256"


_ARGON2 = re.compile(
    r"\$argon2(?:id|i|d)\$(?:v=(?:16|19)\$)?"
    r"m=(?P<memory>[0-9]{1,10}),t=(?P<time>[0-9]{1,10}),p=(?P<parallelism>[0-9]{1,10})"
    r"\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{22,}"
)
_BCRYPT = re.compile(r"\$2[aby]\$(?P<cost>[0-9]{2})\$[./A-Za-z0-9]{53}")
# Rounds without leading zeros, as both libraries write them.
_PASSLIB_PBKDF2 = re.compile(
    r"\$pbkdf2-sha256\$(?P<rounds>[1-9][0-9]{0,9})\$(?P<salt>[./A-Za-z0-9]+)"
    r"\$(?P<digest>[./A-Za-z0-9]{43})"
)
_DJANGO_PBKDF2 = re.compile(
    r"pbkdf2_sha256\$(?P<rounds>[1-9][0-9]{0,9})\$(?P<salt>[!-#%-~]+)"
    r"\$(?P<digest>[A-Za-z0-9+/]{43}=)"
)

UNKNOWN_FORMAT = "unknown password hash format (expected bcrypt, argon2 or pbkdf2-sha256)"


@dataclass(frozen=True, slots=True)
class Pbkdf2Sha256:
    """A parsed pbkdf2-sha256 hash, passlib's or Django's: what verifying it needs."""

    rounds: int
    salt: bytes
    digest: bytes


def parse_pbkdf2_sha256(hash: str) -> Pbkdf2Sha256 | None:
    """The parts of a pbkdf2-sha256 hash in passlib's or Django's format; None otherwise."""
    if not hash.isascii():
        return None
    if passlib := _PASSLIB_PBKDF2.fullmatch(hash):
        salt, digest = _ab64(passlib["salt"]), _ab64(passlib["digest"])
        if salt is None or digest is None:
            return None
        return Pbkdf2Sha256(int(passlib["rounds"]), salt, digest)
    if django := _DJANGO_PBKDF2.fullmatch(hash):
        return Pbkdf2Sha256(
            int(django["rounds"]), django["salt"].encode(), base64.b64decode(django["digest"])
        )
    return None


def _ab64(text: str) -> bytes | None:
    """passlib's adapted base64 (`.` for `+`, unpadded), decoded; None if it is not."""
    try:
        return base64.b64decode(text.replace(".", "+") + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        return None


def import_problem(hash: str) -> str | None:
    """Why `hash` cannot be imported (an unknown format, a cost out of bounds), or None."""
    if not hash:
        return "password_hash is empty"
    if len(hash) > MAX_HASH_LENGTH:
        return f"password_hash is longer than {MAX_HASH_LENGTH} characters"
    if not hash.isascii():
        return UNKNOWN_FORMAT
    if argon2 := _ARGON2.fullmatch(hash):
        memory, time, parallelism = (
            int(argon2[name]) for name in ("memory", "time", "parallelism")
        )
        if not (1 <= time <= MAX_ARGON2_TIME_COST and 1 <= parallelism <= MAX_ARGON2_PARALLELISM):
            return f"argon2 t and p must be 1-{MAX_ARGON2_TIME_COST} and 1-{MAX_ARGON2_PARALLELISM}"
        if not 8 * parallelism <= memory <= MAX_ARGON2_MEMORY_KIB:
            return f"argon2 m must be 8*p to {MAX_ARGON2_MEMORY_KIB} KiB"
        return None
    if bcrypt := _BCRYPT.fullmatch(hash):
        if not 4 <= int(bcrypt["cost"]) <= MAX_BCRYPT_COST:
            return f"bcrypt cost must be 4-{MAX_BCRYPT_COST}"
        return None
    pbkdf2 = parse_pbkdf2_sha256(hash)
    if pbkdf2 is None:
        return UNKNOWN_FORMAT
    if len(pbkdf2.digest) != PBKDF2_SHA256_DIGEST_SIZE or not pbkdf2.salt:
        return UNKNOWN_FORMAT
    if pbkdf2.rounds > MAX_PBKDF2_ROUNDS:
        return f"pbkdf2-sha256 rounds must be at most {MAX_PBKDF2_ROUNDS:,}"
    return None


def scheme_of(hash: str) -> HashScheme | None:
    """The scheme of a hash in one of the formats above (checked or not for import)."""
    if _ARGON2.fullmatch(hash):
        return HashScheme.ARGON2
    if _BCRYPT.fullmatch(hash):
        return HashScheme.BCRYPT
    if parse_pbkdf2_sha256(hash) is not None:
        return HashScheme.PBKDF2_SHA256
    return None
