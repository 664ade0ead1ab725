"""The local SMTP server of `usher dev` (`usher mail-sink`): it accepts every message and writes
it to a folder as an .eml file (open one in any mail program), instead of delivering it.

It listens where USHER_SMTP_HOST / USHER_SMTP_PORT point (127.0.0.1:1025 unless set), so the
workers of `usher dev` send to it with the default settings.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("usher.mail-sink")
_SUBJECT = re.compile(rb"^Subject: ([^\r\n]*)", re.MULTILINE | re.IGNORECASE)


class FolderHandler:
    """aiosmtpd handler: each message accepted becomes `<time>-<n>-<recipient>.eml`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.counter = itertools.count(1)
        self.received = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        recipient = re.sub(r"[^A-Za-z0-9@._-]", "_", (envelope.rcpt_tos or ["unknown"])[0])
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = self.folder / f"{stamp}-{next(self.counter):05d}-{recipient}.eml"
        path.write_bytes(raw)  # a few kB to a local disk: quicker than a thread hop
        self.received += 1
        subject = _SUBJECT.search(raw.partition(b"\r\n\r\n")[0])
        log.info(
            "mail to %s: %s -> %s",
            recipient,
            subject.group(1).decode(errors="replace") if subject else "",
            path.name,
        )
        return "250 OK: kept in the sink"


async def serve_sink(folder: Path, host: str, port: int) -> asyncio.Server:
    """Start the sink on this loop; the caller closes the server it returns."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    handler = FolderHandler(folder)
    loop = asyncio.get_running_loop()

    def protocol() -> Any:
        return SMTP(handler, hostname="usher-mail-sink", loop=loop, data_size_limit=None)

    return await loop.create_server(protocol, host=host, port=port)


async def run_sink(folder: Path, host: str, port: int, stop: asyncio.Event) -> None:
    """`usher mail-sink`: serve until `stop` is set."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    server = await serve_sink(folder, host, port)
    log.info("mail sink on %s:%d, writing .eml files to %s", host, port, folder)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
