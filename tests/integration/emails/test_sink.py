"""`usher mail-sink`, the SMTP server of `usher dev`: every message becomes an .eml file."""

from __future__ import annotations

import signal
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import msgspec

from services.settings import Settings
from tests.integration.events.conftest import Processes, free_port, wait_until
from workers.emails import mime
from workers.emails.smtp import Mailer, SendFailed


async def test_the_sink_keeps_each_message_as_an_eml_file(
    settings: Settings, tmp_path: Path, processes: Processes
) -> None:
    port = free_port()
    sink = processes.start(
        settings, "mail-sink", "--port", str(port), USHER_DATA_DIR=str(tmp_path / "data")
    )
    mailer = Mailer(msgspec.structs.replace(settings.mail, host="127.0.0.1", port=port))
    message = mime.message(
        [("Subject", "Your tickets for HERE"), ("To", "ana@example.org")],
        mime.text_part("plain", "See you on Friday.\n"),
    )

    async def accepted() -> bool:  # once the sink listens
        try:
            await mailer.send(message, "box-office@usher.invalid", "ana@example.org")
        except SendFailed:
            return False
        return True

    await wait_until(accepted, within=30, every=0.1)
    await mailer.send(message, "box-office@usher.invalid", "bo@example.org")
    await mailer.close()
    files = sorted((tmp_path / "data" / "mail").glob("*.eml"))
    assert [f.name.split("-", 3)[-1] for f in files] == [
        "ana@example.org.eml",
        "bo@example.org.eml",
    ]
    kept = message_from_bytes(files[0].read_bytes(), policy=default)
    assert kept["Subject"] == "Your tickets for HERE"
    sink.send_signal(signal.SIGTERM)

    async def stopped() -> bool:
        return sink.poll() is not None

    await wait_until(stopped, within=10)
    assert sink.returncode == 0
    assert "mail to ana@example.org: Your tickets for HERE" in processes.logs()
