"""The message as bytes: multipart/mixed { multipart/alternative { text/plain,
multipart/related { text/html, images } }, attachments }, in UTF-8, quoted-printable text and
base64 files, CRLF line ends.

The body is assembled here rather than with email.message.EmailMessage, whose content manager
costs about 10 ms a message in pure Python (most of the time of a bulk send); the tests parse
every kind of message back with the email package to check the structure. The message's own
headers are the standard library's: parsed and folded by email.headerregistry under the SMTP
policy, with Address objects for From and To, so a name is quoted or RFC 2047 encoded as it
must be and a long one folded rather than refused (about 1 ms a message). On top of that a
header value never carries a line break: control characters in a value become spaces before it
is parsed (the API refuses them, but a row stored before it did may hold them), and a folded
header with a line that does not continue the header is refused (docs/security.md).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.header import Header
from email.headerregistry import Address, HeaderRegistry, MessageIDHeader
from email.policy import SMTP
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from schemas.common import CONTROLS

CRLF = b"\r\n"
_CONTROLS = re.compile(f"[{CONTROLS}]+")
_BARE_BREAK = re.compile(rb"\r\n(?![ \t])|\r(?!\n)|(?<!\r)\n")  # a line not continuing a header


NAME_LENGTH = 78  # a display name is cut to this: one unbroken word never outgrows a line
SUBJECT_LENGTH = 400  # ... and a subject to this (free text in it is at most 300 characters)
_REGISTRY = HeaderRegistry()
# ours names one Message-ID, never folded (the stubs want a BaseHeader; the registry mixes it in)
_REGISTRY.map_to_type("references", MessageIDHeader)  # type: ignore[arg-type]
_POLICY = SMTP.clone(header_factory=_REGISTRY)


class UnsafeHeader(ValueError):
    """A header that would have ended a line of its own: never written."""


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


def one_line(value: str) -> str:
    """`value` with each run of control characters (CR and LF among them) made one space."""
    return _CONTROLS.sub(" ", value).strip()


def ascii_address(addr: str) -> str:
    """One addr-spec, parsed (email-validator, no DNS), with its domain in ASCII (IDNA): what
    the envelope and the To header carry. Raises ValueError for anything else."""
    try:
        parsed = validate_email(
            addr, check_deliverability=False, allow_smtputf8=False, test_environment=True
        )
    except EmailNotValidError as exc:
        raise ValueError(f"not one e-mail address: {addr!r}: {exc}") from None
    assert parsed.ascii_email is not None  # allow_smtputf8=False: the local part is ASCII
    return parsed.ascii_email


def _cut(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def address(name: str, addr: str) -> Address:
    """A mailbox for From or To: the name on one line (cut to NAME_LENGTH). A patron's address
    goes through `ascii_address` first; the sender's is the operator's (USHER_MAIL_FROM)."""
    return Address(display_name=_cut(one_line(name), NAME_LENGTH), addr_spec=addr)


def top_header(name: str, value: str | Address) -> bytes:
    """One of the message's headers, as email.headerregistry parses and folds it (RFC 2047 for
    text beyond ASCII, lines within 78 characters where a break can go)."""
    if isinstance(value, str):
        value = _cut(one_line(value), SUBJECT_LENGTH)
    folded = _POLICY.fold_binary(name, _POLICY.header_factory(name, value))
    start = len(name) + 1
    if folded.startswith(b"\r\n ", start):  # an empty first line reads as a leading space:
        rest = folded[start + 3 :]  # keep the first part on the header's line (up to 998)
        if len(rest.split(CRLF, 1)[0]) + start + 1 <= 998:
            folded = folded[:start] + b" " + rest
    if _BARE_BREAK.search(folded, 0, len(folded) - 2) or not folded.endswith(CRLF):
        raise UnsafeHeader(f"the {name} header would break its line")
    if any(len(line) > 998 for line in folded.split(CRLF)):  # RFC 5322: a relay refuses it
        raise UnsafeHeader(f"the {name} header has a line over 998 characters")
    return folded


# Headers whose values are Usher's own tokens (ids, a date, a kind): written by `header` below,
# at a tenth of the registry's cost (it parses each value again: 0.2-0.4 ms a header); values
# that carry a patron's or a film's words (Subject, From, To) always go through the registry.
_OWN = frozenset({"Date", "Message-ID", "References", "Auto-Submitted", "X-Usher-Kind"})


def _header(name: str, value: str | Address) -> bytes:
    if name in _OWN and isinstance(value, str):
        return header(name, value)
    if name == "From" and isinstance(value, Address):  # the sender: the same for every message
        return _sender(value.display_name, value.addr_spec)
    return top_header(name, value)


@lru_cache(maxsize=4)
def _sender(name: str, addr: str) -> bytes:
    return top_header("From", Address(display_name=name, addr_spec=addr))


def header(name: str, value: str) -> bytes:
    """A part's header (our own values: a Content-ID, a file name). An ASCII value without
    spaces stays on the header's line however long: folding it could only break before it,
    leaving an empty first line that parsers read as a leading space (RFC 5322 allows 998
    characters a line)."""
    value = one_line(value)
    one_word = len(value) < 900 and not any(c.isspace() for c in value)
    if value.isascii() and (len(name) + len(value) < 76 or one_word):
        return f"{name}: {value}".encode() + CRLF
    encoded = Header(value, "utf-8" if not value.isascii() else "us-ascii", header_name=name)
    folded = f"{name}: {encoded.encode(linesep=chr(13) + chr(10))}".encode() + CRLF
    if _BARE_BREAK.search(folded, 0, len(folded) - 2):
        raise UnsafeHeader(f"the {name} header would break its line")
    return folded


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


def message(headers: Iterable[tuple[str, str | Address]], body: Part | Multipart) -> bytes:
    """The whole message: `headers` (text, or an Address for From and To), MIME-Version, then
    the body."""
    top = b"".join(_header(name, value) for name, value in headers)
    return top + b"MIME-Version: 1.0" + CRLF + _render(body)
