from pydantic import BaseModel, Field

from backend.api.schemas.factors import OTP_PATTERN, RECOVERY_CODE_MAX_LENGTH
from backend.api.schemas.text import SecretText, Text
from backend.api.schemas.users import Email, NewPassword

TOKEN_MAX_LENGTH = 200


class PasswordResetRequest(BaseModel):
    tenant: Text = Field(max_length=63, examples=["acme"])
    email: Email


class PasswordResetAccepted(BaseModel):
    # The same whether or not the account exists.
    status: str = "accepted"
    detail: str = "if the account exists, a mail with a reset link is on its way"


class PasswordResetConfirm(BaseModel):
    token: Text = Field(max_length=TOKEN_MAX_LENGTH)
    new_password: NewPassword
    # Needed when the account has a second factor: a current TOTP code, or a recovery code.
    otp: SecretText | None = Field(
        default=None, min_length=6, max_length=6, json_schema_extra={"pattern": OTP_PATTERN}
    )
    recovery_code: SecretText | None = Field(default=None, max_length=RECOVERY_CODE_MAX_LENGTH)


class EmailVerificationConfirm(BaseModel):
    token: Text = Field(max_length=TOKEN_MAX_LENGTH)
