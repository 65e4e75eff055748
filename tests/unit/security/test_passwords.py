"""PasswordService: argon2id hashes, imported ones (bcrypt, pbkdf2-sha256), and the cost
of a missing hash."""

import bcrypt
import pytest

from backend.security.passwords import PasswordService, Verification
from backend.settings import Environment, Settings

PASSWORD = "correct horse battery staple"


def cheap_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": Environment.TEST,
        "argon2_memory_cost_kib": 64,
        "argon2_time_cost": 1,
        "argon2_parallelism": 1,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def passwords() -> PasswordService:
    return PasswordService(cheap_settings())


def legacy_bcrypt(password: bytes) -> str:
    return bcrypt.hashpw(password, bcrypt.gensalt(rounds=4)).decode()


def test_new_hashes_are_argon2id_and_verify(passwords: PasswordService) -> None:
    stored = passwords.hash(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert passwords.verify_and_update(PASSWORD, stored).ok
    wrong = passwords.verify_and_update("not the password", stored)
    assert (wrong.ok, wrong.new_hash) == (False, None)


def test_current_argon2_hash_needs_no_update(passwords: PasswordService) -> None:
    assert passwords.verify_and_update(PASSWORD, passwords.hash(PASSWORD)).new_hash is None


def test_argon2_hash_with_old_parameters_is_renewed(passwords: PasswordService) -> None:
    old = PasswordService(cheap_settings(argon2_time_cost=2)).hash(PASSWORD)
    checked = passwords.verify_and_update(PASSWORD, old)
    assert checked.ok
    assert checked.new_hash is not None
    assert "t=1" in checked.new_hash


def test_legacy_bcrypt_verifies_and_is_replaced_by_argon2(passwords: PasswordService) -> None:
    stored = legacy_bcrypt(PASSWORD.encode())
    checked = passwords.verify_and_update(PASSWORD, stored)
    assert checked.ok
    assert checked.new_hash is not None
    assert checked.new_hash.startswith("$argon2id$")
    assert passwords.verify_and_update(PASSWORD, checked.new_hash).ok
    wrong = passwords.verify_and_update("not the password", stored)
    assert (wrong.ok, wrong.new_hash) == (False, None)


def test_legacy_bcrypt_reads_only_72_bytes_like_the_systems_that_wrote_it(
    passwords: PasswordService,
) -> None:
    long_password = "é" * 50  # 100 bytes in UTF-8
    stored = legacy_bcrypt(long_password.encode()[:72])
    checked = passwords.verify_and_update(long_password, stored)
    assert checked.ok
    assert checked.new_hash is not None
    # The new hash covers the whole password, not the first 72 bytes.
    assert not passwords.verify_and_update(long_password[:36], checked.new_hash).ok


# Known answers from the libraries' own test suites: passlib's pbkdf2_sha256 vector and
# Django's (tests/auth_tests/test_hashers.py, test_pbkdf2).
PASSLIB_PBKDF2 = (
    "password",
    "$pbkdf2-sha256$1212$4vjV83LKPjQzk31VI4E0Vw$hsYF68OiOUPdDZ1Fg.fJPeq1h/gXXY7acBp9/6c.tmQ",
)
DJANGO_PBKDF2 = (
    "lètmein",
    "pbkdf2_sha256$390000$seasalt$8xBlGd3jVgvJ+92hWPxi5ww0uuAuAnKgC45eudxro7c=",
)


@pytest.mark.parametrize(
    ("password", "stored"), [PASSLIB_PBKDF2, DJANGO_PBKDF2], ids=["passlib", "django"]
)
def test_imported_pbkdf2_sha256_verifies_and_is_replaced_by_argon2(
    passwords: PasswordService, password: str, stored: str
) -> None:
    checked = passwords.verify_and_update(password, stored)
    assert checked.ok
    assert checked.new_hash is not None
    assert checked.new_hash.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    assert passwords.verify_and_update(password, checked.new_hash).ok
    for wrong in (password + "x", password[:-1], password.upper()):
        assert passwords.verify_and_update(wrong, stored) == Verification(ok=False)


@pytest.mark.parametrize(
    "tampered",
    [
        PASSLIB_PBKDF2[1].replace("$1212$", "$1213$"),
        PASSLIB_PBKDF2[1].replace("4vjV8", "4vjV9"),
        DJANGO_PBKDF2[1].replace("seasalt", "seasalT"),
        DJANGO_PBKDF2[1].replace("8xBlG", "8xBlH"),
    ],
    ids=["passlib-rounds", "passlib-salt", "django-salt", "django-digest"],
)
def test_a_changed_pbkdf2_hash_does_not_verify(passwords: PasswordService, tampered: str) -> None:
    password = PASSLIB_PBKDF2[0] if tampered.startswith("$") else DJANGO_PBKDF2[0]
    assert not passwords.verify_and_update(password, tampered).ok


@pytest.mark.parametrize("stored", [None, "md5$not-a-format-we-read", ""])
def test_missing_or_unreadable_hash_costs_one_dummy_verification(
    passwords: PasswordService, argon2_verifications: list[str], stored: str | None
) -> None:
    assert passwords.verify_and_update(PASSWORD, stored).ok is False
    assert len(argon2_verifications) == 1
    assert argon2_verifications[0].startswith("$argon2id$")


def test_a_known_hash_costs_exactly_one_verification(
    passwords: PasswordService, argon2_verifications: list[str]
) -> None:
    stored = passwords.hash(PASSWORD)
    passwords.verify_and_update("not the password", stored)
    assert argon2_verifications == [stored]
