import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.api.schemas.text import SecretText, Text

# What a TOTP code and a recovery code look like, stated for clients and fuzzers.
OTP_PATTERN = r"^[0-9]{6}$"
RECOVERY_CODE_MAX_LENGTH = 40

Otp = Field(min_length=6, max_length=6, json_schema_extra={"pattern": OTP_PATTERN})


class TotpStart(BaseModel):
    # How you will recognise this factor in your list ("phone").
    label: Text = Field(default="", max_length=100)


class TotpEnrolmentOut(BaseModel):
    factor_id: uuid.UUID
    # Scan it (or `qr_svg`) with an authenticator app; shown this once.
    otpauth_uri: str
    qr_svg: str


class TotpConfirm(BaseModel):
    code: SecretText = Otp


class RecoveryCodesOut(BaseModel):
    # Ten single-use codes, shown this once: keep them where you keep passwords.
    recovery_codes: list[str]


class FactorOut(BaseModel):
    id: uuid.UUID
    # `totp` or `webauthn`.
    kind: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    # A passkey: whether its authenticator holds it (so it can sign in alone; None if
    # the browser did not say) and whether it is backed up (synced) now.
    discoverable: bool | None = None
    backed_up: bool | None = None


class FactorList(BaseModel):
    items: list[FactorOut]
    recovery_codes_left: int


class FactorsReset(BaseModel):
    factors_removed: int


class WebauthnStart(BaseModel):
    # How you will recognise this passkey in your list ("laptop").
    label: Text = Field(default="", max_length=100)


class _WebauthnJson(BaseModel):
    """WebAuthn's JSON forms (Level 3, base64url for binary): the keys browsers read and
    write, passed through as they are."""

    model_config = ConfigDict(extra="allow")


class WebauthnCreationOptions(_WebauthnJson):
    """PublicKeyCredentialCreationOptions: hand it to
    `PublicKeyCredential.parseCreationOptionsFromJSON()`, then
    `navigator.credentials.create({publicKey})`."""

    challenge: str
    rp: dict[str, str]
    user: dict[str, str]
    timeout: int


class WebauthnRequestOptions(_WebauthnJson):
    """PublicKeyCredentialRequestOptions: hand it to
    `PublicKeyCredential.parseRequestOptionsFromJSON()`, then
    `navigator.credentials.get({publicKey})`."""

    challenge: str
    rpId: str  # noqa: N815 (WebAuthn's own name)
    timeout: int


class WebauthnCredential(_WebauthnJson):
    """A PublicKeyCredential as its `toJSON()` writes it (WebAuthn Level 3)."""

    id: Text = Field(max_length=2048)
    rawId: Text = Field(max_length=2048)  # noqa: N815 (WebAuthn's own name)
    type: Literal["public-key"] = Field(json_schema_extra={"enum": ["public-key"]})
    response: dict[str, Any]


class WebauthnEnrolled(BaseModel):
    factor_id: uuid.UUID
    # Ten single-use codes with your first factor, shown this once; empty when you had
    # a factor already (your codes stand).
    recovery_codes: list[str]


class MfaWebauthnStart(BaseModel):
    # From the password grant's `mfa_required` answer.
    mfa_token: Text = Field(min_length=1, max_length=400)
