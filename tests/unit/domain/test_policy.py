import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from backend.domain.errors import InvalidSlugError
from backend.domain.policy import (
    MAX_PASSWORD_LENGTH,
    NOT_ONE_CHARACTER_REPEATED,
    WeakPasswordError,
    check_password,
    common_passwords,
)
from backend.domain.tenants import validate_slug


@pytest.mark.parametrize("slug", ["ab", "acme", "acme-2", "a" * 63, "0-0"])
def test_valid_slugs(slug: str) -> None:
    assert validate_slug(slug) == slug


@pytest.mark.parametrize(
    "slug", ["a", "a" * 64, "Acme", "acme_co", "acme co", "ac/me", "", "acme\n"]
)
def test_invalid_slugs(slug: str) -> None:
    with pytest.raises(InvalidSlugError):
        validate_slug(slug)


def test_password_needs_twelve_characters_and_no_composition() -> None:
    check_password("all lowercase words")
    check_password("nodigitsnorsymbols")
    with pytest.raises(WeakPasswordError, match="at least 12"):
        check_password("Sh0rt!Pass")


def test_the_minimum_length_is_a_parameter() -> None:
    check_password("mauve otter", min_length=8)
    with pytest.raises(WeakPasswordError, match="at least 20"):
        check_password("mauve otter quietly", min_length=20)


def test_password_length_is_bounded() -> None:
    check_password("xy" * (MAX_PASSWORD_LENGTH // 2))
    with pytest.raises(WeakPasswordError, match="at most"):
        check_password("xy" * (MAX_PASSWORD_LENGTH // 2) + "z")


@pytest.mark.parametrize(
    "password", ["password1234", "PASSWORD1234", "QwertyUiop123", "Summer2024!", "iloveyou"]
)
def test_common_passwords_are_refused_whatever_their_case(password: str) -> None:
    with pytest.raises(WeakPasswordError, match="too common"):
        check_password(password, min_length=8)


def test_one_repeated_character_is_refused() -> None:
    with pytest.raises(WeakPasswordError, match="too common"):
        check_password("a" * 12)


def test_the_blocklist_is_lowercase_and_only_holds_passwords_the_length_rule_lets_through() -> None:
    blocklist = common_passwords()
    assert len(blocklist) > 1000
    assert all(entry == entry.lower() and len(entry) >= 8 for entry in blocklist)
    assert not any(entry.startswith("#") for entry in blocklist)


# Few distinct characters, newlines included, so repeats and near-repeats are common.
_REPEATS = st.text(alphabet=st.sampled_from("aa\n0\u00e9"), min_size=1, max_size=10)


@given(_REPEATS | st.text(min_size=1))
def test_the_openapi_pattern_refuses_exactly_one_character_repeated(password: str) -> None:
    assume(password.lower() not in common_passwords())
    try:
        check_password(password, min_length=1)
        accepted = True
    except WeakPasswordError:
        accepted = False
    assert (re.search(NOT_ONE_CHARACTER_REPEATED, password) is not None) == accepted
