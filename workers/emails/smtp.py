"""Handing a message to the SMTP server (aiosmtplib), and telling a temporary failure from a
permanent one.

A failure carries the server's reply code when the server refused the message (MAIL FROM, RCPT
TO or DATA): 4xx is temporary and 5xx permanent (RFC 5321). Everything else is temporary: no
connection, a timeout, a dropped connection, and also a refused EHLO, STARTTLS or login, which
are the server's or our configuration's fault, not the message's; they are retried with backoff
and show in the staff list of retrying emails until someone fixes them.
"""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import aiosmtplib

from services.settings import MailSettings

# Refusals of this message in particular: their reply code decides.
_MESSAGE_REFUSALS = (
    aiosmtplib.SMTPSenderRefused,
    aiosmtplib.SMTPRecipientRefused,
    aiosmtplib.SMTPDataError,
)


class SendFailed(Exception):
    """The message was not accepted; `code` is the server's reply code, None without one."""

    def __init__(self, code: int | None, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


async def deliver(message: EmailMessage, sender: str, recipient: str, mail: MailSettings) -> None:
    """Send one message to one recipient; raises SendFailed unless the server accepted it."""
    try:
        async with asyncio.timeout(2 * mail.timeout_seconds):
            await aiosmtplib.send(
                message,
                sender=sender,
                recipients=[recipient],
                hostname=mail.host,
                port=mail.port,
                username=mail.username or None,
                password=mail.password or None,
                use_tls=mail.security == "tls",
                start_tls=mail.security == "starttls",  # False: never upgrade on its own
                timeout=mail.timeout_seconds,
            )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        if not exc.recipients:
            raise SendFailed(None, _describe(exc)) from exc
        refused = exc.recipients[0]
        raise SendFailed(refused.code, f"{refused.code} {refused.message} (RCPT TO)") from exc
    except _MESSAGE_REFUSALS as exc:
        stage = {
            aiosmtplib.SMTPSenderRefused: "MAIL FROM",
            aiosmtplib.SMTPRecipientRefused: "RCPT TO",
        }.get(type(exc), "DATA")
        raise SendFailed(exc.code, f"{exc.code} {exc.message} ({stage})") from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise SendFailed(None, _describe(exc)) from exc
