import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, LargeBinary, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base


class ServiceAccount(Base):
    """A machine client of one tenant; authenticates with the client-credentials grant."""

    __tablename__ = "service_accounts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="", server_default="")
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # First characters of the secret, shown in listings so a leaked one can be recognised.
    secret_prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None]
    # Bumped on revocation or a role change, as for users.
    token_version: Mapped[int] = mapped_column(default=1, server_default="1")


class ServiceAccountRole(Base):
    __tablename__ = "service_account_roles"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "service_account_id"],
            ["service_accounts.tenant_id", "service_accounts.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "role_id"], ["roles.tenant_id", "roles.id"], ondelete="CASCADE"
        ),
        Index("ix_service_account_roles_tenant_id_role_id", "tenant_id", "role_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    service_account_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    role_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
