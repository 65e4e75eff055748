"""The declarative base every model shares: naming convention, UUID ids, aware timestamps."""

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, Enum, MetaData, Uuid, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names, so migrations can drop and rename them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)
        datetime: DateTime(timezone=True),
        uuid.UUID: Uuid(),
    }


def utcnow() -> datetime:
    return datetime.now(UTC)


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


def readable_expiry() -> CheckConstraint:
    """A table's `expires_at` must read back as a Python datetime in any session time zone.

    PostgreSQL stores dates up to 294276 AD, Python reads them up to 9999 only; a row
    beyond that would make every read of it fail. The API's own bound is much nearer
    (api/schemas/moments.py); this one holds whatever writes the row.
    """
    return CheckConstraint(
        "expires_at BETWEEN '0001-01-02 00:00:00+00' AND '9998-12-31 23:59:59+00'",
        name="expires_at_readable",
    )


def str_enum(enum_cls: type[StrEnum], name: str) -> Enum:
    """A StrEnum stored as its values in a VARCHAR with a CHECK constraint.

    Not a native PostgreSQL enum, so adding a member is an ordinary migration.
    """
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )
