import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, CreatedAtMixin, str_enum
from backend.domain.passkeys import Ceremony


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
        # A credential is registered once in a tenant: an assertion names one factor.
        Index(
            "ix_factors_tenant_id_credential_id",
            "tenant_id",
            "credential_id",
            unique=True,
            postgresql_where=text("credential_id IS NOT NULL"),
        ),
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
    # WebAuthn: how the browser reached the authenticator ("internal usb", a hint for the
    # next assertion), whether it holds the credential itself (discoverable, as the
    # browser said at registration; None if it did not say), whether the authenticator
    # may back the key up or sync it (signed, fixed at registration), and whether it is
    # backed up now (signed, updated by each assertion).
    transports: Mapped[str] = mapped_column(String(200), default="", server_default="")
    discoverable: Mapped[bool | None] = mapped_column(Boolean)
    backup_eligible: Mapped[bool | None] = mapped_column(Boolean)
    backed_up: Mapped[bool | None] = mapped_column(Boolean)
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


class WebauthnChallenge(CreatedAtMixin, Base):
    """A WebAuthn ceremony's challenge, waiting for the browser's answer.

    Used once: the answer deletes it (services/passkeys.py), so a replay, or two requests
    racing with one answer, finds it gone. Bound to the user it was issued to, except a
    passkey sign-in's, issued before anyone is known.
    """

    __tablename__ = "webauthn_challenges"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        Index("ix_webauthn_challenges_tenant_id_challenge", "tenant_id", "challenge", unique=True),
        Index("ix_webauthn_challenges_tenant_id_user_id", "tenant_id", "user_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID | None]
    ceremony: Mapped[Ceremony] = mapped_column(str_enum(Ceremony, "webauthn_ceremony"))
    challenge: Mapped[bytes] = mapped_column(LargeBinary(32))
    # A registration's label for the factor it will make.
    label: Mapped[str] = mapped_column(String(100), default="", server_default="")
    expires_at: Mapped[datetime]
