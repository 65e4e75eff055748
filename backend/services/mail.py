"""Mail from use cases: queued once the transaction that called for it commits."""

from urllib.parse import urlencode

from sqlalchemy.orm import Session

from backend.db.session import after_commit
from backend.mail.messages import Mail
from backend.services.effects import Effects


def send_after_commit(db: Session, effects: Effects, mail: Mail) -> None:
    """Queue `mail` once this transaction commits; never if it rolls back.

    Sending itself happens in the worker, so a slow or absent SMTP server never holds up
    a request.
    """
    after_commit(db, lambda: effects.mail(mail))


def page(path: str, token: str) -> str:
    """A hosted page's path with `token` in its query: the worker puts the configured
    public base URL before it (never the request's Host header, which its sender chooses)."""
    return f"{path}?{urlencode({'token': token})}"
