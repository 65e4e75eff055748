import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base


class LoginSession(Base):
    """A session: one login, the family of refresh tokens rotated from its password grant,
    or a browser session of the hosted sign-in pages."""

    __tablename__ = "refresh_families"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        Index("ix_refresh_families_tenant_id_user_id", "tenant_id", "user_id"),
        UniqueConstraint("tenant_id", "browser_secret_hash"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime]
    # Absolute lifetime: no rotation extends a session past this.
    expires_at: Mapped[datetime]
    user_agent: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # How the login authenticated (RFC 8176 values, space-separated): every access token
    # of the session carries it as `amr`.
    amr: Mapped[str] = mapped_column(String(64), default="pwd", server_default="pwd")
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    # The API (identifier) its tokens are for, kept by every refresh; None: Tessera's own.
    resource: Mapped[str | None] = mapped_column(String(300))
    # A browser session (a hosted sign-in, its cookie's SHA-256) rather than a family of
    # refresh tokens: it has none, and lets a later /authorize skip the form.
    browser_secret_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))

    @property
    def kind(self) -> str:
        """`browser` for a hosted sign-in's session, `refresh` for a family of tokens."""
        return "browser" if self.browser_secret_hash is not None else "refresh"


class RefreshToken(Base):
    """One refresh token of a session; only its SHA-256 is stored."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "family_id"],
            ["refresh_families.tenant_id", "refresh_families.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        UniqueConstraint("tenant_id", "token_hash"),
        Index("ix_refresh_tokens_tenant_id_family_id", "tenant_id", "family_id"),
        Index("ix_refresh_tokens_expires_at", "expires_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime]
    # Idle lifetime: unused past this, the token is dead.
    expires_at: Mapped[datetime]
    # Set when rotated: the token was exchanged for its successor.
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
