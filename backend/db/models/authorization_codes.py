import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base


class AuthorizationCode(Base):
    """A code /authorize issued (RFC 6749 §4.1.2): only its SHA-256 is stored, it lives
    60 seconds, and it is bound to everything the exchange at /token must match."""

    __tablename__ = "authorization_codes"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        UniqueConstraint("tenant_id", "code_hash"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # The client's row: a deleted client's codes go with it.
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID]
    redirect_uri: Mapped[str] = mapped_column(Text)
    # BASE64URL(SHA-256(code_verifier)), RFC 7636 §4.2: 43 characters.
    code_challenge: Mapped[str] = mapped_column(String(64))
    # What the token will carry: catalogue scopes and the OpenID Connect ones asked.
    scope: Mapped[str] = mapped_column(Text)
    resource: Mapped[str | None] = mapped_column(String(300))
    nonce: Mapped[str | None] = mapped_column(String(500))
    # When the person last typed their password (OpenID Connect auth_time).
    auth_time: Mapped[datetime]
    # How the sign-in authenticated (RFC 8176, space-separated): the exchange's session
    # and tokens carry it as `amr`.
    amr: Mapped[str] = mapped_column(String(64), default="pwd", server_default="pwd")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # The session the exchange started, ended if the code comes back (RFC 6749 §4.1.2).
    # No foreign key: a session may be swept while its code's row remains.
    session_id: Mapped[uuid.UUID | None]
