"""Who asked, for the audit log: request id and client address of the current request.

Set by the API's middleware and read by the audit service, so services need not
thread them through every call. Outside a request (CLI, worker) both are None.
"""

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    client_ip: str | None


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)
