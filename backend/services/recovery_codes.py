"""Recovery codes: ten single-use codes a user keeps for when their factor is lost.

Each code is 80 random bits in base32 (`abcd-efgh-ijkl-mnop`), shown once and stored
only as the SHA-256 of its normalised form: 80 bits need no slow hash. A new set
replaces the old one whole. Using a code is one atomic UPDATE, so of two requests with
the same code exactly one succeeds.
"""

import base64
import hashlib
import secrets
import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from backend.db.models import RecoveryCode

COUNT = 10
_CODE_BYTES = 10
_GROUP = 4


def normalise(code: str) -> str:
    """What a user typed, as stored: case, spaces and dashes do not matter."""
    return "".join(code.split()).replace("-", "").upper()


def _digest(code: str) -> bytes:
    return hashlib.sha256(normalise(code).encode()).digest()


def _new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(_CODE_BYTES)).decode().lower()
    return "-".join(raw[i : i + _GROUP] for i in range(0, len(raw), _GROUP))


def replace(db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[str]:
    """A fresh set of codes for the user; the old set, used or not, is gone."""
    remove_all(db, tenant_id, user_id)
    codes = [_new_code() for _ in range(COUNT)]
    db.add_all(
        RecoveryCode(tenant_id=tenant_id, id=uuid.uuid4(), user_id=user_id, code_hash=_digest(c))
        for c in codes
    )
    db.flush()
    return codes


def use(db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, code: str, now: datetime) -> bool:
    """Spend one code: True if it was one of the user's unused codes (now used)."""
    spent = db.scalar(
        update(RecoveryCode)
        .where(
            RecoveryCode.tenant_id == tenant_id,
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == _digest(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .returning(RecoveryCode.id)
    )
    return spent is not None


def remaining(db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
    return int(
        db.scalar(
            select(func.count()).where(
                RecoveryCode.tenant_id == tenant_id,
                RecoveryCode.user_id == user_id,
                RecoveryCode.used_at.is_(None),
            )
        )
        or 0
    )


def remove_all(db: Session, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
    db.execute(
        delete(RecoveryCode).where(
            RecoveryCode.tenant_id == tenant_id, RecoveryCode.user_id == user_id
        )
    )
