"""Refusing a pooled connection the server has closed, without a round trip.

`pool_pre_ping` sends a `SELECT 1` on every checkout: a round trip per request that
uses the database. A server that ends a connection (a restart, `pg_terminate_backend`,
an idle timeout) sends its last message and closes the socket, so an idle pooled
connection with anything to read is dead, and telling that costs one poll(2). What
neither detects in time is a silent network death: the ping would hang as the query
does, until the connect or statement timeout.
"""

import select
from typing import Any

from sqlalchemy.exc import DisconnectionError


def refuse_closed_connection(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pool `checkout` hook: a connection the server closed is replaced, not handed out.

    DisconnectionError makes the pool discard this connection and open a new one in its
    place; every other dead one is caught at its own checkout.
    """
    if dbapi_connection.closed or _readable(dbapi_connection.fileno()):
        raise DisconnectionError("the server has closed this pooled connection")


def _readable(fd: int) -> bool:
    """True if the socket has data or an end-of-file waiting: an idle one should not."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))
