"""A subject's standing: may a token issued to them still be used?"""

from dataclasses import dataclass

ACTIVE = "active"
# A user or service account that may not use its tokens (a deleted user is disabled too).
DISABLED = "disabled"
SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class SubjectStanding:
    """What the guard checks on every request, from PostgreSQL or its Redis cache."""

    user_status: str
    token_version: int
    tenant_status: str
    # Which tenant the subject belongs to, by slug: platform scopes count only in one.
    tenant_slug: str

    def refusal(self, presented_version: int) -> str | None:
        """Why a token carrying `presented_version` must be refused, or None if it may pass."""
        if self.user_status != ACTIVE:
            return "user is disabled"
        if self.tenant_status != ACTIVE:
            return "tenant is suspended"
        if presented_version != self.token_version:
            return "token has been revoked"
        return None
