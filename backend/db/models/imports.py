import uuid
from enum import StrEnum

from sqlalchemy import ARRAY, ForeignKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, str_enum
from backend.db.models.users import UserStatus


class ImportOutcome(StrEnum):
    PENDING = "pending"
    IMPORTED = "imported"
    # A user with this email (case-insensitively) was already in the tenant: left as is.
    EXISTS = "exists"
    REJECTED = "rejected"


class ImportRow(Base):
    """One data row of a user import file, staged with its job, and what became of it.

    The operator's CLI stages every row in the transaction that makes the job; the
    worker imports the pending ones in batches, so a job stopped half-way goes on from
    its first pending row. Once a row is done its name, roles and password hash are
    cleared: the line, the email and the outcome are what the report needs.
    """

    __tablename__ = "import_rows"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "job_id"], ["jobs.tenant_id", "jobs.id"], ondelete="CASCADE"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # The line of the file the row starts on (the header is line 1 of a CSV file).
    line: Mapped[int] = mapped_column(primary_key=True)
    outcome: Mapped[ImportOutcome] = mapped_column(
        str_enum(ImportOutcome, "import_outcome"),
        default=ImportOutcome.PENDING,
        server_default=ImportOutcome.PENDING.value,
    )
    reason: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(320))
    full_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[UserStatus | None] = mapped_column(str_enum(UserStatus, "user_status"))
    roles: Mapped[list[str] | None] = mapped_column(ARRAY(String(100)))
    password_hash: Mapped[str | None] = mapped_column(String(255))
