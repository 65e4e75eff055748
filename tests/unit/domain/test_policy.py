import pytest

from backend.domain.errors import InvalidSlugError
from backend.domain.policy import MAX_PASSWORD_LENGTH, WeakPasswordError, check_password
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


def test_password_needs_twelve_characters_and_nothing_else() -> None:
    check_password("a" * 12)
    check_password("all lowercase words")
    with pytest.raises(WeakPasswordError, match="at least 12"):
        check_password("Sh0rt!Pass")


def test_password_length_is_bounded() -> None:
    check_password("x" * MAX_PASSWORD_LENGTH)
    with pytest.raises(WeakPasswordError, match="at most"):
        check_password("x" * (MAX_PASSWORD_LENGTH + 1))
