"""Principals: who is calling, as the guard admitted them (services.guard)."""

import uuid
from dataclasses import dataclass

from backend.domain.errors import NotFoundError
from backend.domain.subjects import SubjectKind


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, in which tenant, with which scopes.

    A user (through an access token or one of their API keys) or a service account.
    """

    kind: SubjectKind
    subject_id: uuid.UUID
    tenant_id: uuid.UUID
    scopes: frozenset[str]
    # Whether the tenant is the platform tenant (TESSERA_PLATFORM_TENANT_SLUG), the only
    # one where platform scopes count: decided once, by the guard, from the standing.
    platform: bool
    api_key_id: uuid.UUID | None = None
    # How the user signed in for the access token (its `amr` claim, RFC 8176): `mfa`
    # once a second factor was used. Empty for an API key, which proves no factor.
    amr: frozenset[str] = frozenset()

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.subject_id if self.kind == SubjectKind.USER else None

    @property
    def actor(self) -> str:
        """How the audit log names this principal (the event's actor)."""
        if self.api_key_id is not None:
            return f"api_key:{self.api_key_id}"
        return f"{self.kind}:{self.subject_id}"

    def require_user(self) -> uuid.UUID:
        """The principal's user id; a service account has no user profile (404)."""
        if self.user_id is None:
            raise NotFoundError("user profile")
        return self.user_id
