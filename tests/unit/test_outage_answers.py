"""Which unexpected errors the API answers with 503 (an outage) rather than 500 (a bug)."""

from __future__ import annotations

import asyncpg

from services.problems import _during_outage


def _raised_while_handling(first: BaseException, then: BaseException) -> BaseException:
    try:
        try:
            raise first
        except type(first):
            raise then  # noqa: B904  (the implicit context is the point)
    except type(then) as exc:
        return exc


def test_an_error_raised_while_an_outage_was_handled_is_the_outage() -> None:
    # a PostgreSQL restart cut a query; leaving the transaction then found the connection closed
    closed = _raised_while_handling(
        asyncpg.exceptions.InternalClientError("cannot switch to state 11"),
        asyncpg.InterfaceError("the underlying connection is closed"),
    )
    assert _during_outage(closed)


def test_a_connection_the_pool_took_back_after_the_server_closed_it_is_an_outage() -> None:
    released = asyncpg.InterfaceError(
        "cannot call Connection.fetchrow(): connection has been released back to the pool"
    )
    assert _during_outage(released)


def test_misuse_on_its_own_stays_a_bug() -> None:
    assert not _during_outage(asyncpg.InterfaceError("another operation is in progress"))
    assert not _during_outage(_raised_while_handling(KeyError("x"), ValueError("y")))
    assert _during_outage(ConnectionResetError())
