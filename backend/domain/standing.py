"""A subject's standing: may this subject act now? The one check every path makes.

The guard (an access token), an API key, a password login, a refresh and the client
credentials grant all ask `may_act`; each answers the refusal with its own error code
(`invalid_token`, `invalid_grant`, `invalid_client`) but the same words, and a login
audits the refusal's value as the failure's reason.
"""

from dataclasses import dataclass
from enum import StrEnum

ACTIVE = "active"
# A user or service account that may not use its tokens (a deleted user is disabled too).
DISABLED = "disabled"
SUSPENDED = "suspended"


class Refusal(StrEnum):
    """Why a subject may not act now; the value is the reason an audit event records."""

    DISABLED = "disabled"
    TENANT_SUSPENDED = "tenant_suspended"
    REVOKED = "revoked"

    @property
    def message(self) -> str:
        """The one description every path answers this refusal with."""
        return _MESSAGES[self]


_MESSAGES = {
    Refusal.DISABLED: "user is disabled",
    Refusal.TENANT_SUSPENDED: "tenant is suspended",
    Refusal.REVOKED: "token has been revoked",
}


def may_act(
    subject_status: str,
    tenant_status: str,
    *,
    token_version: int | None = None,
    presented_version: int | None = None,
) -> Refusal | None:
    """Why the subject may not act now, or None if it may.

    The subject must be active, in an active tenant; a token must carry the subject's
    current token version (pass both versions for a token, neither for a credential
    checked afresh, such as a password or an API key).
    """
    if subject_status != ACTIVE:
        return Refusal.DISABLED
    if tenant_status != ACTIVE:
        return Refusal.TENANT_SUSPENDED
    if presented_version != token_version:
        return Refusal.REVOKED
    return None


@dataclass(frozen=True, slots=True)
class SubjectStanding:
    """What the guard checks on every request, from PostgreSQL or its Redis cache."""

    user_status: str
    token_version: int
    tenant_status: str
    # Which tenant the subject belongs to, by slug: platform scopes count only in one.
    tenant_slug: str

    def refusal(self, presented_version: int) -> Refusal | None:
        """Why a token carrying `presented_version` must be refused, or None if it may pass."""
        return may_act(
            self.user_status,
            self.tenant_status,
            token_version=self.token_version,
            presented_version=presented_version,
        )
