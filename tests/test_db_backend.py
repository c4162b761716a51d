"""A pooled connection the server closed while it sat in the pool is not handed out
(marketplace/postgresql/base.py): the next request gets a working one, with no round trip
spent checking the ones that are fine."""

import time

import pytest
from django.db import connections
from django.db.utils import ConnectionHandler

from marketplace.postgresql.base import has_hung_up


@pytest.fixture
def pooled(django_db_blocker):
    """A pooled connection to the test database, as the servers connect (the test process
    itself runs without the pool), outside the test's transaction."""
    with django_db_blocker.unblock():
        options = {**connections["default"].settings_dict.get("OPTIONS", {}), "pool": {"min_size": 2, "max_size": 4}}
        handler = ConnectionHandler(
            {
                "default": {
                    **connections["default"].settings_dict,
                    "ENGINE": "marketplace.postgresql",
                    "CONN_MAX_AGE": 0,
                    "CONN_HEALTH_CHECKS": False,
                    "OPTIONS": options,
                }
            }
        )
        connection = handler["default"]
        yield connection
        connection.close()
        connection.close_pool()


def backend_pid(connection) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_connection_closed_by_the_server_while_pooled_is_replaced_not_handed_out(pooled):
    # Every connection the pool holds now: each is handed out idle, and each is fine.
    pids = set()
    for _ in range(pooled.pool.get_stats()["pool_size"]):
        pids.add(backend_pid(pooled))
        assert not has_hung_up(pooled.connection)
        pooled.close()
    # A restart, an idle timeout or an administrator ends them while they are idle.
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)])
        # pg_terminate_backend only signals: wait until the backends have said goodbye.
        for _ in range(500):
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)])
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.01)
    for _ in range(len(pids) + 1):
        assert backend_pid(pooled) not in pids  # no error, and never one of the closed ones
        pooled.close()
