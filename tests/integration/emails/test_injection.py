"""A name or a title stored with line breaks (the API refuses them today, an older row may hold
them) cannot add a header or replace the message, and a long name still arrives: through the
real pipeline to a real SMTP server (docs/security.md, "Email")."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from services.settings import Settings
from tests.integration.emails.conftest import Mailbox, Pipeline, book, screening_in, settle
from tests.integration.emails.helpers import html_of, text_of

HOSTILE = (
    "Ana\r\nBcc: evil@attacker.example\r\nSubject: You won\r\n\r\n<h1>Click here</h1>\r\n.\r\n"
)


async def _title(pool: asyncpg.Pool, screening_id: UUID, title: str) -> None:
    await pool.execute(
        "UPDATE film SET title = $2 FROM screening s WHERE s.film_id = film.id AND s.id = $1",
        screening_id,
        title,
    )


async def test_a_name_with_line_breaks_adds_no_header_and_keeps_the_message(
    demo: asyncpg.Pool, settings: Settings, pipeline: Pipeline, mailbox: Mailbox
) -> None:
    screening_id = await screening_in(demo, "cinema-2")
    await _title(demo, screening_id, "Harold & Maude")
    await book(demo, settings, screening_id, ["A2"], name=HOSTILE)
    async with pipeline.running():
        await settle(demo, 1)
    assert await demo.fetchval("SELECT status FROM email") == "sent"
    (message,) = mailbox.messages()
    assert message["X-Envelope-To"] == "ana@example.org"  # nobody else got it
    assert message["Bcc"] is None
    assert message.get_all("Subject") == [message["Subject"]]  # one Subject, ours
    assert "You won" not in message["Subject"]
    (recipient,) = message["To"].addresses
    assert recipient.addr_spec == "ana@example.org"
    assert "\r" not in recipient.display_name
    assert "\n" not in recipient.display_name
    assert recipient.display_name.startswith("Ana Bcc: evil@attacker.example")
    # the body is still ours: the tickets, the HTML part, the calendar file
    assert message.is_multipart()
    assert "<h1>Click here</h1>" not in html_of(message)
    # a subject and a plain-text part are not HTML; the HTML part escapes
    assert "Harold & Maude" in message["Subject"]
    assert "&amp;" not in message["Subject"]
    assert "Harold & Maude" in text_of(message)
    assert "&amp;" not in text_of(message)
    assert "Harold &amp; Maude" in html_of(message)


async def test_a_long_name_does_not_fail_the_email(
    demo: asyncpg.Pool, settings: Settings, pipeline: Pipeline, mailbox: Mailbox
) -> None:
    screening_id = await screening_in(demo, "cinema-2")
    await book(demo, settings, screening_id, ["A3"], name="Ana" * 700)  # one 2100-letter word
    await book(demo, settings, screening_id, ["A4"], name="Zoë Ünal-" * 150, email="zo@example.org")
    async with pipeline.running():
        await settle(demo, 2)
    statuses = await demo.fetch("SELECT status, last_error FROM email")
    assert [row["status"] for row in statuses] == ["sent", "sent"], statuses
    assert len(mailbox.messages()) == 2
    for message in mailbox.messages():
        assert message.defects == []
        (recipient,) = message["To"].addresses
        # cut to 78 characters (a parser may read a space where an encoded word was folded)
        assert len(recipient.display_name) <= 80
        assert recipient.display_name.startswith(("AnaAna", "Zoë Ünal-Zoë"))


async def test_an_international_domain_is_sent_in_ascii(
    demo: asyncpg.Pool, settings: Settings, pipeline: Pipeline, mailbox: Mailbox
) -> None:
    screening_id = await screening_in(demo, "cinema-2")
    await book(demo, settings, screening_id, ["A5"], email="ana@bücher.example")
    async with pipeline.running():
        await settle(demo, 1)
    (message,) = mailbox.messages()
    assert message["X-Envelope-To"] == "ana@xn--bcher-kva.example"
    assert message["To"].addresses[0].addr_spec == "ana@xn--bcher-kva.example"
