import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, CreatedAtMixin, str_enum


class FactorKind(StrEnum):
    TOTP = "totp"
    WEBAUTHN = "webauthn"


class Factor(CreatedAtMixin, Base):
    """A user's second factor: a TOTP secret (sealed) or a WebAuthn credential.

    Unconfirmed (`confirmed_at` null) while enrolment waits for its first code; only a
    confirmed factor is asked for at login.
    """

    __tablename__ = "factors"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        Index("ix_factors_tenant_id_user_id", "tenant_id", "user_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID]
    kind: Mapped[FactorKind] = mapped_column(str_enum(FactorKind, "factor_kind"))
    # TOTP: the secret, sealed under the encryption key with the factor's id as its
    # associated data (security/sealing.py).
    secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    # TOTP: the time step of the last code accepted; a code of that step or earlier is
    # a replay.
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    # WebAuthn: the credential's id, public key (COSE) and signature counter.
    credential_id: Mapped[bytes | None] = mapped_column(LargeBinary)
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    sign_count: Mapped[int | None] = mapped_column(BigInteger)
    label: Mapped[str] = mapped_column(String(100), default="", server_default="")
    confirmed_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class RecoveryCode(CreatedAtMixin, Base):
    """One of a user's single-use recovery codes; only its SHA-256 is stored."""

    __tablename__ = "recovery_codes"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        Index("ix_recovery_codes_tenant_id_user_id", "tenant_id", "user_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID]
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    used_at: Mapped[datetime | None]


class MfaChallenge(CreatedAtMixin, Base):
    """A password login waiting for its second factor: what the `mfa_token` stands for.

    Bound to the user, the scopes and the resource the login asked for; used once.
    """

    __tablename__ = "mfa_challenges"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        Index("ix_mfa_challenges_tenant_id_token_hash", "tenant_id", "token_hash", unique=True),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID]
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    scope: Mapped[str] = mapped_column(Text)
    resource: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str] = mapped_column(String(300), default="", server_default="")
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # The browser session this factor steps up (the hosted sign-in asked for more than
    # the session has, OpenID Connect `acr_values`); None after a password.
    session_id: Mapped[uuid.UUID | None]
