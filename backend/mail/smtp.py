"""Sending over SMTP with the configured host, port, TLS and credentials."""

import smtplib
import ssl
from email.message import EmailMessage

from backend.settings import Settings

# What a retry may cure: the server unreachable, slow, or refusing for now (4xx).
TRANSIENT_SMTP: tuple[type[Exception], ...] = (
    OSError,
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    smtplib.SMTPHeloError,
)


def send(settings: Settings, message: EmailMessage) -> None:
    """Hand `message` to the SMTP server; raises smtplib's errors for the caller to retry.

    A recipient the server refuses for good (5xx) raises SMTPRecipientsRefused, which
    a retry would not cure: the caller drops the message.
    """
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.smtp_timeout_seconds
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if settings.smtp_tls == "tls":
        client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        if settings.smtp_tls == "starttls":
            client.starttls(context=context)
        if settings.smtp_username is not None:
            password = settings.smtp_password
            client.login(
                settings.smtp_username, "" if password is None else password.get_secret_value()
            )
        client.send_message(message)
