"""APIs (resource servers) and their scopes: platform-level reference tables.

Not tenant-owned: every tenant of the SaaS uses the same product, so these tables have
no tenant_id and no row-level security (docs/scaling.md lists them as reference tables).
Tessera's own API is built in and not stored here.
"""

import uuid

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, CreatedAtMixin


class Api(CreatedAtMixin, Base):
    __tablename__ = "apis"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # The audience of its tokens; immutable.
    identifier: Mapped[str] = mapped_column(String(300), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="", server_default="")


class ApiScope(Base):
    __tablename__ = "api_scopes"

    # Unique across every API, so a role's scope names exactly one API.
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    api_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apis.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(String(500), default="", server_default="")
