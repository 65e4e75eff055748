import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Computed, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, CreatedAtMixin, str_enum


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class User(CreatedAtMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        # Email is unique per tenant regardless of case; the listing's order and keyset.
        Index("uq_users_tenant_id_email_lower", "tenant_id", "email_lower", unique=True),
        # The inactivity sweep looks for active users by last login.
        Index("ix_users_tenant_id_last_login_at", "tenant_id", "last_login_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320))
    # lower(email), kept by PostgreSQL. A plain column, unlike the expression, can be an
    # index condition under row-level security (its comparisons are leakproof), and
    # collation "C" orders it by code point on every server.
    email_lower: Mapped[str] = mapped_column(
        String(320, collation="C"), Computed("lower(email)", persisted=True)
    )
    password_hash: Mapped[str | None] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    status: Mapped[UserStatus] = mapped_column(
        str_enum(UserStatus, "user_status"),
        default=UserStatus.ACTIVE,
        server_default=UserStatus.ACTIVE.value,
    )
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    # When the user proved they receive mail at `email`; null again when it changes.
    email_verified_at: Mapped[datetime | None]
    # Bumped whenever outstanding access tokens must stop working at once.
    token_version: Mapped[int] = mapped_column(default=1, server_default="1")
