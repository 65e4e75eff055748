"""Rules about tenants themselves."""

import re

from backend.domain.errors import InvalidSlugError

# Also the database's CHECK, and the pattern OpenAPI states for POST /tenants and the
# `tenant` field of POST /token.
SLUG_PATTERN = r"^[a-z0-9-]{2,63}$"
_SLUG = re.compile(SLUG_PATTERN)


def validate_slug(slug: str) -> str:
    """Return the slug if it is well formed; the same rule as the database CHECK."""
    if not _SLUG.fullmatch(slug):
        raise InvalidSlugError(slug)
    return slug
