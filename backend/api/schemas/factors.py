import uuid
from datetime import datetime

from pydantic import BaseModel, Field

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
    kind: str
    label: str
    created_at: datetime
    last_used_at: datetime | None


class FactorList(BaseModel):
    items: list[FactorOut]
    recovery_codes_left: int


class FactorsReset(BaseModel):
    factors_removed: int
