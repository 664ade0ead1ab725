"""Handing a message to the SMTP server (aiosmtplib), and telling a temporary failure from a
permanent one.

A failure carries the server's reply code when the server refused the message (MAIL FROM, RCPT
TO or DATA): 4xx is temporary and 5xx permanent (RFC 5321). Everything else is temporary: no
connection, a timeout, a dropped connection, and also a refused EHLO, STARTTLS or login, which
are the server's or our configuration's fault, not the message's; they are retried with backoff
and show in the staff list of retrying emails until someone fixes them. So is a server whose
certificate we do not trust (USHER_SMTP_CA_FILE names the CAs to trust instead of the system's),
and one that does not offer the STARTTLS we were told to use: we never fall back to plain text.
"""

from __future__ import annotations

import asyncio
import ssl
import time

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


class Mailer:
    """SMTP connections kept open between messages, at most `keep` idle at once, for one
    worker process: a bulk send pays the connection, STARTTLS and login once per connection,
    not once per message. A connection is used by one send at a time; one that failed in any
    way but a refusal of the message is closed; one idle for `CHECK_AFTER_SECONDS` is checked
    with NOOP before use, and one idle for `IDLE_SECONDS` replaced (servers drop idle clients)."""

    IDLE_SECONDS = 30.0
    CHECK_AFTER_SECONDS = 5.0

    def __init__(self, mail: MailSettings, keep: int = 10) -> None:
        self.mail = mail
        self.keep = keep
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._tls: ssl.SSLContext | None = None
        self.connections = 0  # opened so far (for tests and the benchmark)

    def _tls_context(self) -> ssl.SSLContext | None:
        """The TLS client context (certificates and the host name checked), made once per
        worker rather than per connection; None without TLS. A CA file that cannot be read
        fails the send as a temporary failure naming the setting, until someone fixes it."""
        mail = self.mail
        if mail.security == "none":
            return None
        if self._tls is None:
            try:
                self._tls = ssl.create_default_context(cafile=mail.ca_file or None)
            except OSError as exc:  # ssl.SSLError too: a file that is not PEM
                raise OSError(f"USHER_SMTP_CA_FILE {mail.ca_file!r}: {exc}") from exc
        return self._tls

    async def _connect(self) -> aiosmtplib.SMTP:
        mail = self.mail
        client = aiosmtplib.SMTP(
            hostname=mail.host,
            port=mail.port,
            username=mail.username or None,
            password=mail.password or None,
            use_tls=mail.security == "tls",
            start_tls=mail.security == "starttls",  # False: never upgrade on its own
            tls_context=self._tls_context(),
            timeout=mail.timeout_seconds,
        )
        await client.connect()
        self.connections += 1
        return client

    async def _take(self) -> aiosmtplib.SMTP:
        now = time.monotonic()
        while self._idle:
            client, since = self._idle.pop()
            idle = now - since
            usable = idle < self.IDLE_SECONDS and client.is_connected
            if usable and (idle < self.CHECK_AFTER_SECONDS or await self._answers(client)):
                return client
            client.close()
        return await self._connect()

    @staticmethod
    async def _answers(client: aiosmtplib.SMTP) -> bool:
        """NOOP on a connection idle for a while: the server may have dropped it, and a message
        sent into a dropped connection would wait for its retry instead of going now."""
        try:
            await client.noop()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            return False
        return True

    def _give_back(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self.keep and client.is_connected:
            self._idle.append((client, time.monotonic()))
        else:
            client.close()

    async def send(self, message: bytes, sender: str, recipient: str) -> None:
        """Send one message to one recipient; raises SendFailed unless the server accepted
        it. A reply code on the failure means the server refused this message (4xx: try
        again later, 5xx: never); no code, that it could not be asked."""
        client: aiosmtplib.SMTP | None = None
        try:
            async with asyncio.timeout(2 * self.mail.timeout_seconds):
                client = await self._take()
                await client.sendmail(sender, [recipient], message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            self._after_refusal(client)
            if not exc.recipients:
                raise SendFailed(None, _describe(exc)) from exc
            refused = exc.recipients[0]
            raise SendFailed(refused.code, f"{refused.code} {refused.message} (RCPT TO)") from exc
        except _MESSAGE_REFUSALS as exc:
            self._after_refusal(client)
            stage = {
                aiosmtplib.SMTPSenderRefused: "MAIL FROM",
                aiosmtplib.SMTPRecipientRefused: "RCPT TO",
            }.get(type(exc), "DATA")
            raise SendFailed(exc.code, f"{exc.code} {exc.message} ({stage})") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            if client is not None:
                client.close()
            raise SendFailed(None, _describe(exc)) from exc
        except BaseException:
            if client is not None:
                client.close()
            raise
        self._give_back(client)

    def _after_refusal(self, client: aiosmtplib.SMTP | None) -> None:
        """aiosmtplib resets the envelope (RSET) after a refusal: the connection is fine."""
        if client is not None:
            self._give_back(client)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client, _ in idle:
            try:
                await client.quit(timeout=1)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
