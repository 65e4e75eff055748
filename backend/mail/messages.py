"""The messages Tessera mails, as data: a kind, a recipient and what the template shows."""

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum


class MailKind(StrEnum):
    """One template set each under backend/mail/templates: subject, text and HTML."""

    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a template name)
    EMAIL_VERIFICATION = "email_verification"
    RECOVERY_CODE_USED = "recovery_code_used"
    FACTORS_RESET = "factors_reset"


@dataclass(frozen=True, slots=True)
class Mail:
    """A message to one address. `page` is the path and query of the hosted page the mail
    links to; the worker puts TESSERA_PUBLIC_BASE_URL before it, so no request (its Host
    header least of all) can point the link elsewhere. It may carry a one-time token: the
    mail is sealed on the queue (taskqueue/dispatch.py) and never logged."""

    kind: MailKind
    to: str
    tenant_name: str
    page: str | None = None
    # What else the template shows: plain strings, such as an expiry in minutes.
    details: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "Mail":
        data = json.loads(raw)
        return cls(
            kind=MailKind(data["kind"]),
            to=str(data["to"]),
            tenant_name=str(data["tenant_name"]),
            page=None if data.get("page") is None else str(data["page"]),
            details={str(k): str(v) for k, v in dict(data.get("details") or {}).items()},
        )
