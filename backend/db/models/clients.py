import uuid
from datetime import datetime

from sqlalchemy import ARRAY, LargeBinary, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, CreatedAtMixin, str_enum
from backend.domain.clients import ClientType


class Client(CreatedAtMixin, Base):
    """An application users sign in to. Platform-level, not tenant-owned: one client
    serves every tenant, so this is a reference table (docs/scaling.md)."""

    __tablename__ = "clients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # What OAuth calls the client: sent at /authorize and /token. Never changes.
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[ClientType] = mapped_column(str_enum(ClientType, "client_type"))
    # SHA-256 of a confidential client's secret; None for a public client.
    secret_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    secret_prefix: Mapped[str | None] = mapped_column(String(16))
    redirect_uris: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(
        ARRAY(Text), default=list, server_default="{}"
    )
    allowed_origins: Mapped[list[str]] = mapped_column(
        ARRAY(Text), default=list, server_default="{}"
    )
    grant_types: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    # Identifiers of the APIs (audiences) the client may ask tokens for.
    resources: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
