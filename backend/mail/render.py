"""Mails rendered from templates: a subject, a plain-text part and an HTML part per kind.

Both bodies come from the same context; the HTML is autoescaped (a tenant's name is an
admin's text), the text and subject are not (nothing interprets them). Header values are
set through `email.message.EmailMessage`, which refuses line breaks in them.
"""

from email.message import EmailMessage
from email.utils import make_msgid
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from backend.mail.messages import Mail

_TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render(mail: Mail, sender: str, base_url: str) -> EmailMessage:
    """The message `mail` describes, from `sender`, its link under `base_url`, for SMTP."""
    env = _environment()
    link = None if mail.page is None else base_url + mail.page
    context = {"tenant_name": mail.tenant_name, "link": link, **mail.details}
    subject = env.get_template(f"{mail.kind}.subject.txt").render(context).strip()
    message = EmailMessage()
    # One line: a tenant's name with a line break in it must not start a new header.
    message["Subject"] = " ".join(subject.split())
    message["From"] = sender
    message["To"] = mail.to
    message["Message-ID"] = make_msgid(domain="tessera")
    message.set_content(env.get_template(f"{mail.kind}.txt").render(context))
    message.add_alternative(env.get_template(f"{mail.kind}.html").render(context), subtype="html")
    return message
