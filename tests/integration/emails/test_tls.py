"""Sending over TLS, against a real aiosmtpd server with a self-signed certificate made for the
test (openssl): STARTTLS (with a login, which the server allows only once the connection is
encrypted) and implicit TLS, the client trusting that certificate through USHER_SMTP_CA_FILE;
and never sending in the clear, nor to a server it does not trust."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from services.settings import MailSettings, Settings
from tests.integration.emails.conftest import Mailbox, Pipeline, book, screening_in, settle
from tests.integration.emails.helpers import text_of
from tests.integration.events.conftest import free_port
from workers.emails import mime
from workers.emails.smtp import Mailer, SendFailed

MESSAGE = mime.message([("Subject", "over TLS")], mime.text_part("plain", "hello\n"))
SENDER = "box-office@usher.invalid"
LOGIN = ("usher", "s3cret")


@dataclass(frozen=True)
class Certificate:
    cert: Path  # also the CA file the client trusts: the certificate signs itself
    key: Path


def self_signed(folder: Path, names: str) -> Certificate:
    """A self-signed certificate (EC P-256, two days) for `names` (subjectAltName), made now."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "2", "-subj", "/CN=usher test SMTP",
        "-addext", f"subjectAltName={names}", "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return Certificate(cert, key)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """The test server's certificate, for the address the client connects to."""
    return self_signed(tmp_path_factory.mktemp("tls"), "IP:127.0.0.1,DNS:localhost")


def server_context(certificate: Certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.cert, certificate.key)
    return context


class TlsMailbox(Mailbox):
    """The tests' mailbox, noting for each message its session (who logged in) and whether
    the connection it came on was encrypted."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[Session] = []
        self.encrypted: list[bool] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.sessions.append(session)
        transport = server.transport
        self.encrypted.append(
            transport is not None and transport.get_extra_info("ssl_object") is not None
        )
        return await super().handle_DATA(server, session, envelope)


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == tuple(
        part.encode() for part in LOGIN
    )
    return AuthResult(success=ok, handled=False, auth_data=data)


@pytest.fixture
async def serve(certificate: Certificate) -> AsyncIterator[Any]:
    """Start SMTP servers on the test's loop: `await serve("starttls" | "tls" | "plain")`,
    with the test certificate unless given another."""
    loop = asyncio.get_running_loop()
    servers: list[asyncio.Server] = []

    async def start(mode: str, presents: Certificate = certificate) -> tuple[TlsMailbox, int]:
        mailbox = TlsMailbox()
        context = server_context(presents)
        port = free_port()

        def protocol() -> SMTP:
            if mode == "starttls":  # STARTTLS first, then AUTH, then mail
                return SMTP(
                    mailbox,
                    hostname="test-smtp",
                    tls_context=context,
                    require_starttls=True,
                    authenticator=authenticate,
                    auth_required=True,
                    loop=loop,
                )
            return SMTP(mailbox, hostname="test-smtp", loop=loop)

        server = await loop.create_server(
            protocol, host="127.0.0.1", port=port, ssl=context if mode == "tls" else None
        )
        servers.append(server)
        return mailbox, port

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def mail_settings(port: int, security: str, ca_file: Path | str = "", **extra: Any) -> MailSettings:
    return MailSettings(
        host="127.0.0.1",
        port=port,
        security=security,
        ca_file=str(ca_file),
        timeout_seconds=10.0,
        **extra,
    )


async def test_starttls_upgrades_before_logging_in_and_trusts_the_configured_ca(
    serve: Any, certificate: Certificate
) -> None:
    mailbox, port = await serve("starttls")
    mailer = Mailer(
        mail_settings(port, "starttls", certificate.cert, username=LOGIN[0], password=LOGIN[1])
    )
    await mailer.send(MESSAGE, SENDER, "ana@example.org")
    await mailer.send(MESSAGE, SENDER, "bo@example.org")  # the same connection, encrypted
    await mailer.close()
    assert mailer.connections == 1
    assert [m["X-Envelope-To"] for m in mailbox.messages()] == [
        "ana@example.org",
        "bo@example.org",
    ]
    assert mailbox.encrypted == [True, True]
    for session in mailbox.sessions:
        assert session.ssl is not None  # upgraded by STARTTLS
        assert session.authenticated
        assert session.auth_data.login == LOGIN[0].encode()


async def test_implicit_tls_delivers_to_a_server_that_speaks_tls_from_the_start(
    serve: Any, certificate: Certificate
) -> None:
    mailbox, port = await serve("tls")
    mailer = Mailer(mail_settings(port, "tls", certificate.cert))
    await mailer.send(MESSAGE, SENDER, "ana@example.org")
    await mailer.send(MESSAGE, SENDER, "bo@example.org")
    await mailer.close()
    assert mailer.connections == 1
    assert len(mailbox.messages()) == 2
    assert text_of(mailbox.messages()[0]).strip() == "hello"
    assert mailbox.encrypted == [True, True]


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_a_certificate_not_trusted_is_a_temporary_failure_and_nothing_is_sent(
    serve: Any, security: str
) -> None:
    mailbox, port = await serve(security)
    mailer = Mailer(mail_settings(port, security))  # the system's CAs: not the test's
    with pytest.raises(SendFailed) as failure:
        await mailer.send(MESSAGE, SENDER, "ana@example.org")
    await mailer.close()
    assert failure.value.code is None  # retried with backoff, shown to staff as retrying
    assert "CERTIFICATE_VERIFY_FAILED" in failure.value.detail
    assert not mailbox.messages()


async def test_a_trusted_certificate_for_another_host_is_refused(
    serve: Any, tmp_path: Path
) -> None:
    elsewhere = self_signed(tmp_path, "DNS:smtp.elsewhere.invalid")
    mailbox, port = await serve("tls", elsewhere)
    mailer = Mailer(mail_settings(port, "tls", elsewhere.cert))  # trusted, but not 127.0.0.1's
    with pytest.raises(SendFailed) as failure:
        await mailer.send(MESSAGE, SENDER, "ana@example.org")
    await mailer.close()
    assert "CERTIFICATE_VERIFY_FAILED" in failure.value.detail
    assert "127.0.0.1" in failure.value.detail
    assert not mailbox.messages()


async def test_starttls_never_falls_back_to_plain_text(
    serve: Any, certificate: Certificate
) -> None:
    mailbox, port = await serve("plain")  # offers no STARTTLS
    mailer = Mailer(mail_settings(port, "starttls", certificate.cert))
    with pytest.raises(SendFailed) as failure:
        await mailer.send(MESSAGE, SENDER, "ana@example.org")
    await mailer.close()
    assert failure.value.code is None
    assert "STARTTLS" in failure.value.detail
    assert not mailbox.messages()


async def test_a_ca_file_that_cannot_be_read_says_which_setting(serve: Any, tmp_path: Path) -> None:
    mailbox, port = await serve("starttls")
    mailer = Mailer(mail_settings(port, "starttls", tmp_path / "missing.pem"))
    with pytest.raises(SendFailed) as failure:
        await mailer.send(MESSAGE, SENDER, "ana@example.org")
    assert failure.value.code is None
    assert "USHER_SMTP_CA_FILE" in failure.value.detail
    assert not mailbox.messages()


async def test_the_pipeline_sends_over_starttls_with_the_settings_of_the_environment(
    demo: asyncpg.Pool,
    settings: Settings,
    serve: Any,
    certificate: Certificate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """USHER_SMTP_* read as a worker reads them, then a booking's email through the relay, the
    consumer and the send job, encrypted and logged in."""
    from services.settings import get_settings

    mailbox, port = await serve("starttls")
    for name, value in {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": "starttls",
        "SMTP_CA_FILE": str(certificate.cert),
        "SMTP_USERNAME": LOGIN[0],
        "SMTP_PASSWORD": LOGIN[1],
    }.items():
        monkeypatch.setenv(f"USHER_{name}", value)
    get_settings.cache_clear()
    try:
        mail = get_settings().mail
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert (mail.security, mail.ca_file) == ("starttls", str(certificate.cert))
    tls = msgspec.structs.replace(
        settings,
        mail=msgspec.structs.replace(
            mail, timeout_seconds=10.0, retry_seconds=0.05, retry_max_seconds=0.2
        ),
    )
    screening_id = await screening_in(demo, "cinema-2")
    booking = await book(demo, settings, screening_id, ["F1"])
    async with Pipeline(tls, demo).running():
        await settle(demo, 1)
    (message,) = mailbox.messages()
    assert booking.reference in message["Subject"]
    assert await demo.fetchval("SELECT status FROM email") == "sent"
    assert mailbox.encrypted == [True]
    assert mailbox.sessions[0].authenticated
