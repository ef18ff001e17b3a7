"""Sending one message over SMTP, and telling a refusal for good from a failure worth retrying."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from activities.channels import PermanentDeliveryError
from aims.settings import SmtpSettings


def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Raises PermanentDeliveryError when the server refuses this message or its recipient for
    good (5xx); anything else (down, busy, 4xx, bad credentials) raises to be retried."""
    context = ssl.create_default_context()
    connect = smtplib.SMTP_SSL if settings.implicit_tls else smtplib.SMTP
    kwargs = {"context": context} if settings.implicit_tls else {}
    with connect(settings.host, settings.port, timeout=settings.timeout_seconds, **kwargs) as server:
        if settings.starttls:
            server.starttls(context=context)
        if settings.username:
            server.login(settings.username, settings.password or "")
        try:
            server.send_message(message)
        except smtplib.SMTPRecipientsRefused as refused:
            codes = [code for code, _ in refused.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"smtp_recipient_refused_{codes[0]}") from None
            raise
        except smtplib.SMTPDataError as refused:
            if refused.smtp_code >= 500:
                raise PermanentDeliveryError(f"smtp_message_refused_{refused.smtp_code}") from None
            raise
