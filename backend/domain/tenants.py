"""Rules about tenants themselves."""

import re

from backend.domain.errors import InvalidSlugError

_SLUG = re.compile(r"[a-z0-9-]{2,63}")


def validate_slug(slug: str) -> str:
    """Return the slug if it is well formed; the same rule as the database CHECK."""
    if not _SLUG.fullmatch(slug):
        raise InvalidSlugError(slug)
    return slug
