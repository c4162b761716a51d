"""Django's PostgreSQL backend, with a pooled connection checked without a round trip.

psycopg's pool can check each connection it hands out by running an empty query on it, and
Django turns that on with CONN_HEALTH_CHECKS: a round trip on every checkout, which is every
request and every socket action (about 30 us of the process's CPU and 60 us of waiting
each, docs/performance.md). What the check is for, a connection the server closed while it
sat in the pool (a restart, an idle timeout, an administrator's pg_terminate_backend), shows
without asking: the server's farewell is waiting on the socket. An idle connection has
nothing to read, so one that does is closed and given back, which makes the pool drop it
and open another, and the next one is taken.
"""

import select
from typing import Any

from django.db.backends.postgresql import base
from psycopg import Connection
from psycopg.pq import ConnStatus


def has_hung_up(connection: Connection[Any]) -> bool:
    """Whether an idle connection was closed by the server, or anything else arrived on it
    since it was last used: either way it is not handed out."""
    if connection.closed or connection.pgconn.status != ConnStatus.OK:
        return True
    # poll(), not select(): a busy server's sockets number past select's 1,024.
    poller = select.poll()
    poller.register(connection.pgconn.socket, select.POLLIN)
    return bool(poller.poll(0))


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Connection[Any]:
        if not self.pool:
            return super().get_new_connection(conn_params)
        # Bounded: each broken connection given back is dropped, and the pool opens new ones.
        for _ in range(self.pool.max_size):
            connection = super().get_new_connection(conn_params)
            if not has_hung_up(connection):
                return connection
            connection.close()
            self.pool.putconn(connection)
        return super().get_new_connection(conn_params)
