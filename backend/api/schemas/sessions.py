import uuid
from datetime import datetime

from backend.api.schemas.base import Out


class SessionOut(Out):
    """A live login session (a refresh token family)."""

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str
