"""A Server-Sent Events reader for the tests, following the WHATWG processing model as the staff
page's feed.js does: a message is dispatched at a blank line, its `id` sets the last event id
even when it has no data (and is then not dispatched), comments are ignored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx


@dataclass
class Message:
    id: str | None
    event: str
    data: str


@dataclass
class Reader:
    """Feed text in with `feed()`; complete messages come out, each with the last event id as
    of its dispatch (with `with_cursor`, id-only messages come out too, with event ""). A client
    that stops early resumes from the id of the last message it consumed, not `last_id` (the
    last one parsed)."""

    with_cursor: bool = False
    last_id: str | None = None
    _buffer: str = ""
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None

    def feed(self, text: str) -> list[Message]:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        out: list[Message] = []
        for raw in lines:
            line = raw.removesuffix("\r")
            if line == "":
                if self._id is not None:
                    self.last_id = self._id
                if self._data:
                    out.append(
                        Message(self.last_id, self._event or "message", "\n".join(self._data))
                    )
                elif self.with_cursor and self._id is not None:
                    out.append(Message(self._id, "", ""))
                self._event, self._data, self._id = "", [], None
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    self._event = value
                elif name == "data":
                    self._data.append(value)
                elif name == "id" and "\0" not in value:
                    self._id = value
        return out


def parse(text: str, *, with_cursor: bool = False) -> list[Message]:
    """Every complete message in `text` (with `with_cursor`, id-only messages too)."""
    return Reader(with_cursor=with_cursor).feed(text)


async def messages(response: httpx.Response, reader: Reader) -> AsyncIterator[Message]:
    """The messages of a streamed httpx response, one at a time as they arrive."""
    async for chunk in response.aiter_text():
        for message in reader.feed(chunk):
            yield message
