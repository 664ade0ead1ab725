"""Who is calling: the one definition of a caller that every per-caller limit keys on.

A caller is its address: the TCP peer's, or, when that peer is one of USHER_TRUSTED_PROXIES,
the right-most address of `X-Forwarded-For` that is not a trusted proxy (uvicorn's
ProxyHeadersMiddleware, run inside the app, puts it in the ASGI scope; `usher serve` turns
uvicorn's own copy of it off, which would trust 127.0.0.1 by default). An IPv6 caller is its
/64, the block one subscriber usually gets, so a bot cannot mint addresses by the billion.
A request with a valid staff token is that staff member instead (the till), wherever it comes
from. Nothing the client chooses, such as a header of its own, takes part (docs/security.md).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.middleware import DefineMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from schemas.staff import StaffMember
from services.settings import Settings
from services.staff.auth import staff_of

_REQUESTER = "usher.requester"  # where a request keeps its Requester (the scope's state)


class Requester(msgspec.Struct, frozen=True):
    """`key`: what per-caller limits count by (`staff:<id>` or the address); `address`: what
    per-address rate limits count by; `staff`: the staff member of a valid token, if any."""

    key: str
    address: str
    staff: StaffMember | None = None


def proxy_headers(settings: Settings) -> DefineMiddleware:
    """The middleware that takes the caller's address from X-Forwarded-For, from trusted
    proxies only (none unless USHER_TRUSTED_PROXIES names them)."""
    return DefineMiddleware(
        ProxyHeadersMiddleware,  # type: ignore[arg-type]  # uvicorn's ASGI types, not Litestar's
        trusted_hosts=list(settings.limits.trusted_proxies),
    )


def address_of(host: str | None) -> str:
    """`ip:203.0.113.7`, or `ip:2001:db8:1:2::/64` for any address of that IPv6 /64."""
    if not host:
        return "ip:unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"ip:{host[:100]}"  # not an IP (a unix socket's peer, a test client)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"ip:{address.ipv4_mapped}"
        return f"ip:{ipaddress.IPv6Network((address, 64), strict=False)}"
    return f"ip:{address}"


def address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The caller's address, as `address_of` writes it."""
    return address_of(connection.client.host if connection.client else None)


async def requester(connection: ASGIConnection[Any, Any, Any, Any]) -> Requester:
    """The caller of a public route: a staff member if it sends a valid staff token (an invalid
    one is refused, 401), else its address. Worked out once a request: a rate-limit hook
    (services/rate_limits.py) asks before the handler does."""
    known: Requester | None = connection.state.get(_REQUESTER)
    if known is not None:
        return known
    where = address(connection)
    staff = await staff_of(connection)
    caller = (
        Requester(key=where, address=where)
        if staff is None
        else Requester(key=f"staff:{staff.id}", address=where, staff=staff)
    )
    connection.state[_REQUESTER] = caller
    return caller
