"""Which imported hashes are accepted: the libraries' own output, within bounded costs."""

import bcrypt
import pytest
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

from backend.domain.password_hashes import (
    UNKNOWN_FORMAT,
    HashScheme,
    import_problem,
    parse_pbkdf2_sha256,
    scheme_of,
)
from backend.security.passwords import PasswordService
from backend.settings import Environment, Settings
from tests.support.hashes import django_pbkdf2, passlib_pbkdf2

PASSWORD = "violet otters juggle"


GOOD = {
    "argon2id-pwdlib": (HashScheme.ARGON2, Argon2Hasher(time_cost=1, memory_cost=64)),
    "bcrypt-pwdlib": (HashScheme.BCRYPT, BcryptHasher(rounds=4)),
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_hashes_the_libraries_write_are_accepted_and_verify(name: str) -> None:
    scheme, hasher = GOOD[name]
    stored = hasher.hash(PASSWORD)
    assert import_problem(stored) is None
    assert scheme_of(stored) is scheme
    assert _service().verify_and_update(PASSWORD, stored).ok


@pytest.mark.parametrize(
    "stored",
    [
        passlib_pbkdf2(PASSWORD, salt=b"\x01\x02salt-bytes\xff"),
        django_pbkdf2(PASSWORD, salt="Xq3RkY2uPzWvD8cA1nLmTe"),
    ],
    ids=["passlib", "django"],
)
def test_pbkdf2_sha256_in_both_formats_is_accepted_and_verifies(stored: str) -> None:
    assert import_problem(stored) is None
    assert scheme_of(stored) is HashScheme.PBKDF2_SHA256
    assert parse_pbkdf2_sha256(stored) is not None
    assert _service().verify_and_update(PASSWORD, stored).ok


def test_bcrypt_prefixes_2a_and_2y_are_accepted() -> None:
    stored = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()
    assert import_problem(stored) is None
    assert import_problem("$2y$" + stored[4:]) is None


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        ("", "password_hash is empty"),
        ("hunter2", UNKNOWN_FORMAT),
        ("md5$seasalt$3f86d0d3d465b7b458c231bf3555c0e3", UNKNOWN_FORMAT),
        ("{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", UNKNOWN_FORMAT),
        ("$2b$04$tooshort", UNKNOWN_FORMAT),
        ("$2b$17$" + "a" * 53, "bcrypt cost must be 4-16"),
        ("$2b$03$" + "a" * 53, "bcrypt cost must be 4-16"),
        ("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$", UNKNOWN_FORMAT),
        ("$argon2id$v=19$m=4194304,t=3,p=4$c2FsdHNhbHRzYWx0$" + "a" * 43, "argon2 m must"),
        ("$argon2id$v=19$m=65536,t=99,p=4$c2FsdHNhbHRzYWx0$" + "a" * 43, "argon2 t and p"),
        ("$pbkdf2-sha256$029000$c2FsdA$" + "a" * 43, UNKNOWN_FORMAT),
        ("$pbkdf2-sha256$99999999$c2FsdA$" + "a" * 43, "rounds must be at most 10,000,000"),
        ("$pbkdf2-sha256$29000$c2FsdA$" + "a" * 42, UNKNOWN_FORMAT),
        ("pbkdf2_sha256$870000$salt$" + "a" * 44, UNKNOWN_FORMAT),
        ("pbkdf2_sha256$870000$sält$" + "a" * 43 + "=", UNKNOWN_FORMAT),
        ("pbkdf2_sha1$870000$salt$" + "a" * 27 + "=", UNKNOWN_FORMAT),
        ("$2b$12$" + "a" * 300, "longer than 255"),
    ],
)
def test_unknown_formats_and_unbounded_costs_are_refused(stored: str, reason: str) -> None:
    problem = import_problem(stored)
    assert problem is not None
    assert reason in problem


def _service() -> PasswordService:
    return PasswordService(
        Settings(
            env=Environment.TEST,
            argon2_memory_cost_kib=64,
            argon2_time_cost=1,
            argon2_parallelism=1,
        )
    )
