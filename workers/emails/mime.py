"""The message as bytes: multipart/mixed { multipart/alternative { text/plain,
multipart/related { text/html, images } }, attachments }, in UTF-8, quoted-printable text and
base64 files, CRLF line ends.

Assembled here rather than with email.message.EmailMessage, whose header and content managers
cost about 10 ms a message in pure Python (most of the time of a bulk send); the tests parse
every kind of message back with the email package to check the structure.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.header import Header
from email.utils import formataddr

CRLF = b"\r\n"


@dataclass(frozen=True)
class Part:
    """A leaf part: its content type (with parameters), its bytes, and its extra headers."""

    content_type: str
    data: bytes
    headers: tuple[tuple[str, str], ...] = ()
    text: bool = False  # quoted-printable (text) or base64 (anything else)


@dataclass(frozen=True)
class Multipart:
    subtype: str
    parts: list[Part | Multipart] = field(default_factory=list)


def header(name: str, value: str) -> bytes:
    """One header line (folded, RFC 2047 encoded when not ASCII). An ASCII value without spaces
    (a Message-ID, a References id) stays on the header's line however long: folding it could
    only break before it, leaving an empty first line that parsers read as a leading space
    (RFC 5322 allows 998 characters a line)."""
    one_word = len(value) < 900 and not any(c.isspace() for c in value)
    if value.isascii() and (len(name) + len(value) < 76 or one_word):
        return f"{name}: {value}".encode() + CRLF
    encoded = Header(value, "utf-8" if not value.isascii() else "us-ascii", header_name=name)
    return f"{name}: {encoded.encode(linesep=chr(13) + chr(10))}".encode() + CRLF


def address(name: str, addr: str) -> str:
    """`Name <addr>`, the name encoded when it is not ASCII."""
    return formataddr((name, addr), charset="utf-8")


def text_part(subtype: str, text: str) -> Part:
    return Part(f'text/{subtype}; charset="utf-8"', text.encode("utf-8"), text=True)


def _encode(part: Part) -> bytes:
    if part.text:
        # binascii's quoted-printable is C; it keeps "\n", which becomes CRLF below
        data = binascii.b2a_qp(part.data.replace(b"\r\n", b"\n"), istext=True)
        encoding = "quoted-printable"
    else:
        data = base64.encodebytes(part.data)
        encoding = "base64"
    lines = [
        f"Content-Type: {part.content_type}".encode() + CRLF,
        f"Content-Transfer-Encoding: {encoding}".encode() + CRLF,
        *(header(name, value) for name, value in part.headers),
        CRLF,
        data.replace(b"\n", CRLF),
    ]
    return b"".join(lines)


def _render(node: Part | Multipart) -> bytes:
    if isinstance(node, Part):
        return _encode(node)
    # "=_" never occurs in quoted-printable or base64 text: a boundary no content can contain
    boundary = f"=_usher_{uuid.uuid4().hex}"
    out = [f'Content-Type: multipart/{node.subtype}; boundary="{boundary}"'.encode() + CRLF, CRLF]
    for child in node.parts:
        # the CRLF before a delimiter belongs to the delimiter, not to the part (RFC 2046)
        out += [f"--{boundary}".encode(), CRLF, _render(child), CRLF]
    out += [f"--{boundary}--".encode(), CRLF]
    return b"".join(out)


def message(headers: Iterable[tuple[str, str]], body: Part | Multipart) -> bytes:
    """The whole message: `headers` (already formatted values), MIME-Version, then the body."""
    top = b"".join(header(name, value) for name, value in headers)
    return top + b"MIME-Version: 1.0" + CRLF + _render(body)
