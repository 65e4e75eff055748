import uuid
from datetime import datetime

from pydantic import BaseModel


class SessionOut(BaseModel):
    """A live login session (a refresh token family)."""

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str
