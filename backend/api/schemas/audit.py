import uuid
from datetime import datetime
from typing import Any

from backend.api.pagination import PageOut
from backend.api.schemas.base import Out


class AuditEventOut(Out):
    id: uuid.UUID
    at: datetime
    # "user:<id>", "service_account:<id>", "api_key:<id>", "system" or "anonymous".
    actor: str
    action: str
    target: str
    # What changed ("before"/"after" of the fields), or why; never secrets.
    data: dict[str, Any]
    request_id: str | None
    client_ip: str | None


class AuditPage(PageOut[AuditEventOut]):
    """A page of the audit log, newest first."""
