"""Request bodies: JSON only, decoded strictly, straight into the route's msgspec Struct.

Litestar decodes a body to Python objects and then converts them to the handler's type with
msgspec's lax rules (`"90"` becomes `90`), and lets a non-UTF-8 body or JSON nested past the
recursion limit escape as a 500. Here, once for every route that takes `data`:

- the body must be `application/json` (or a `+json` type), else 415: a page on another origin
  can then never send a write as a CORS "simple" request (text/plain, form encodings), which
  the browser would send without asking the API first (the preflight);
- the bytes are decoded by msgspec with `strict=True` into the handler's own type, so a string
  is never a number and the Struct is built in one pass (Litestar passes it through as is);
- bytes that are not JSON (truncated, not UTF-8, nested too deep) are a 400 `malformed-body`;
  JSON of the wrong shape, or a number too big for its field (`1e400`), a 400
  `validation-error` naming the field.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException
from litestar.types import Empty

from services.errors import MalformedBody, UnsupportedMediaType

JSON_TYPES = ("application/json",)


def is_json(content_type: str) -> bool:
    """`application/json` or a structured `+json` type, parameters (`; charset=utf-8`) aside."""
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type in JSON_TYPES or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class UsherRequest(Request[Any, Any, Any]):
    """The app's request class (`Litestar(request_class=...)`): `json()` is what Litestar calls
    to read a route's `data`."""

    async def json(self) -> Any:
        cached = self._connection_state.json
        if cached is not Empty:
            return cached
        content_type = self.headers.get("content-type", "")
        if not is_json(content_type):
            raise UnsupportedMediaType(
                f"the body must be application/json, not {content_type or 'unlabelled'}"
            )
        value = decode_json(await self.body(), _body_type(self))
        self._connection_state.json = value
        return value


def decode_json(body: bytes, target: Any) -> Any:
    """`body` decoded strictly into `target`: a 400 naming the field when it does not match,
    a 400 `malformed-body` when it is not JSON (a route that reads its raw body first, such as
    a signed payment callback, decodes it with this too)."""
    try:
        return _decoder(target).decode(body or b"null")
    except msgspec.ValidationError as exc:
        raise ValidationException(
            "the body does not match its schema",
            extra=[{"message": str(exc), "key": "data", "source": "body"}],
        ) from exc
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedBody(_malformed_reason(exc)) from exc


@functools.cache
def _decoder(target: Any) -> msgspec.json.Decoder[Any]:
    """One decoder per body type, made once: about twice as fast as Litestar's decode-then-convert
    on a confirmation's body, where `msgspec.json.decode(type=...)` each time is slower than it."""
    return msgspec.json.Decoder(target, strict=True)


def _body_type(request: Request[Any, Any, Any]) -> Any:
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    return Any if data is None else data.annotation


def _malformed_reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "the body is not valid UTF-8"
    if isinstance(exc, RecursionError):
        return "the body is nested too deeply"
    return str(exc)
