"""Readers of the USHER_* environment variables for services/settings.py: each returns None
when its variable is unset or empty, so that the Struct's own default applies (every default is
written once, in its Struct), and refuses a malformed value at start-up with one clear line."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from typing import Any

import limits
import msgspec


def _env(name: str) -> str | None:
    """The variable's value; None when unset or empty (the Struct's default then applies)."""
    value = os.environ.get(f"USHER_{name}", "")
    return value or None


def _is_set(name: str) -> bool:
    return _env(name) is not None


def _given(**values: Any) -> dict[str, Any]:
    """The settings the environment gives: every default is written once, in its Struct."""
    return {key: value for key, value in values.items() if value is not None}


def _default(struct: type[msgspec.Struct], field: str) -> Any:
    """A Struct field's default, for the few settings another setting is derived from."""
    return next(f.default for f in msgspec.structs.fields(struct) if f.name == field)


def _float(name: str, above: float | None = None) -> float | None:
    """A number; with `above`, refused unless greater (a timeout, a backoff)."""
    raw = _env(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise RuntimeError(f"USHER_{name} must be a number, got {raw!r}") from exc
    if not math.isfinite(value):
        raise RuntimeError(f"USHER_{name} must be a finite number, got {raw!r}")
    if above is not None and not value > above:
        raise RuntimeError(f"USHER_{name} must be above {above:g}, got {raw!r}")
    return value


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = _env(name)
    if value is not None and value not in allowed:
        raise RuntimeError(f"USHER_{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _int(name: str, least: int | None = None, most: int | None = None) -> int | None:
    """A whole number, refused outside least..most: a batch of 0 or a negative poll would run
    a silent busy loop, not fail."""
    raw = _env(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise RuntimeError(f"USHER_{name} must be a whole number, got {raw!r}") from exc
    if least is not None and value < least:
        raise RuntimeError(f"USHER_{name} must be {least} or more, got {value}")
    if most is not None and value > most:
        raise RuntimeError(f"USHER_{name} must be {most} or less, got {value}")
    return value


def _seconds(name: str) -> int | None:
    return _int(name, least=0)


def _flag(name: str) -> bool | None:
    value = _env(name)
    return None if value is None else value.lower() in {"1", "true", "yes"}


def _items(name: str) -> tuple[str, ...] | None:
    """A comma-separated list; None when unset."""
    value = _env(name)
    return None if value is None else tuple(i.strip() for i in value.split(",") if i.strip())


def _pairs(name: str) -> tuple[tuple[str, str], ...] | None:
    """`name=value,name2=value2` (each name once, made of letters, digits, `-` and `_`)."""
    items = _items(name)
    if items is None:
        return None
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", key):
            raise RuntimeError(f"USHER_{name}: {key or item!r} is not name=secret")
        if key in pairs:
            raise RuntimeError(f"USHER_{name}: {key} is listed twice")
        pairs[key] = value
    return tuple(pairs.items())


# scheme://host[:port], the host perhaps `*.` and a domain (its subdomains), a name or [IPv6]
_ORIGIN = re.compile(r"^https?://(\*\.)?([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:[0-9]{1,5})?$")


def _origins(name: str) -> tuple[str, ...] | None:
    """A comma-separated list of origins (compared lower-case, as browsers send them), or `*`
    alone; unset: the default (`*`). Anything else is refused at start-up: an origin with a path
    or a trailing slash would never match, silently."""
    items = _items(name)
    if not items:
        return None
    origins = tuple(o.lower() for o in items)
    if origins == ("*",):
        return origins
    if "*" in origins:
        raise RuntimeError(f"USHER_{name}: `*` allows every origin; give it alone, or a list")
    bad = [o for o in origins if not _ORIGIN.match(o)]
    if bad:
        raise RuntimeError(
            f"USHER_{name}: {', '.join(bad)} is not an origin such as https://cinema.example,"
            " http://localhost:3000 or https://*.cinema.example (no path, no trailing slash)"
        )
    return origins


def _addresses(name: str) -> tuple[tuple[str, int], ...] | None:
    """`host:port,host:port` (IPv6 in brackets: `[::1]:26379`)."""
    items = _items(name)
    if items is None:
        return None
    found: list[tuple[str, int]] = []
    for item in items:
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise RuntimeError(f"USHER_{name}: {item!r} is not host:port")
        found.append((host.strip("[]"), int(port)))
    return tuple(found)


def _networks(name: str) -> tuple[str, ...] | None:
    """A comma-separated list of IP networks (CIDR) or addresses; anything else is refused at
    start-up, so a misspelt proxy is not silently never trusted."""
    items = _items(name)
    if items is None:
        return None
    try:
        return tuple(str(ipaddress.ip_network(n, strict=False)) for n in items)
    except ValueError as exc:
        raise RuntimeError(f"USHER_{name}: {exc} (give CIDRs such as 10.0.0.0/8 or ::1)") from exc


def _rate(name: str) -> str | None:
    """A rate such as `30/minute` or `10 per 15 minutes` (the `limits` library's notation)."""
    value = _env(name)
    if value is None:
        return None
    try:
        limits.parse(value)
    except ValueError as exc:
        raise RuntimeError(
            f"USHER_{name} must be a rate such as 30/minute or 10 per 15 minutes, got {value!r}"
        ) from exc
    return value
