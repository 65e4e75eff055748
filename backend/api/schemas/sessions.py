import uuid
from datetime import datetime
from typing import Literal

from backend.api.schemas.base import Out


class SessionOut(Out):
    """A live login session: a refresh token family, or a browser session of the hosted
    sign-in (its cookie lets /authorize skip the form)."""

    id: uuid.UUID
    kind: Literal["refresh", "browser"]
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str
