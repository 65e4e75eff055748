import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKeyConstraint, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, CreatedAtMixin, str_enum


class AccountTokenPurpose(StrEnum):
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a purpose, not a secret)
    EMAIL_VERIFICATION = "email_verify"


class AccountToken(CreatedAtMixin, Base):
    """A one-time token mailed to a user: a password reset or an email verification.

    Only the SHA-256 of the token is stored. A reset remembers a fingerprint of the
    password hash it was issued under, so any change of password kills it; a newer reset
    uses the older ones up. A verification names the address it verifies, so an email
    changed since verifies nothing.
    """

    __tablename__ = "account_tokens"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        UniqueConstraint("tenant_id", "token_hash"),
        Index("ix_account_tokens_tenant_id_user_id", "tenant_id", "user_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID]
    purpose: Mapped[AccountTokenPurpose] = mapped_column(
        str_enum(AccountTokenPurpose, "account_token_purpose")
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    email: Mapped[str] = mapped_column(String(320))
    password_fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
