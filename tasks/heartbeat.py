"""Which agent sockets this process holds, and the heartbeat that proves it.

The database's AgentConnection rows are the truth about who is connected. A clean close
deletes its row; what a crash skips is caught by the heartbeat: one task per event loop
refreshes every row this process holds in a single UPDATE, and the sweeper removes rows
whose heartbeat stopped. A process killed with -9 simply stops refreshing.
"""

import asyncio
import logging
import os
import socket

from channels.db import database_sync_to_async
from django.conf import settings

log = logging.getLogger(__name__)

SERVER_ID = f"{socket.gethostname()}:{os.getpid()}"[:100]

# channel name -> agent id, for the sockets open in this process.
_live: dict[str, int] = {}
_beats: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def register(channel_name: str, agent_id: int) -> None:
    _live[channel_name] = agent_id
    loop = asyncio.get_running_loop()
    task = _beats.get(loop)
    if task is None or task.done():
        for stale in [other for other in _beats if other.is_closed()]:
            del _beats[stale]
        _beats[loop] = loop.create_task(_beat_forever(), name="agent-heartbeat")


def unregister(channel_name: str) -> None:
    _live.pop(channel_name, None)


def live_connections() -> dict[str, int]:
    return dict(_live)


async def _beat_forever() -> None:
    from . import services

    beat = database_sync_to_async(services.agent_connections_heartbeat)
    while True:
        await asyncio.sleep(settings.AGENT_HEARTBEAT_SECONDS)
        if not _live:
            continue
        try:
            await beat(connections=dict(_live), server=SERVER_ID)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database is away: the next beat tries again
            log.exception("agent heartbeat failed")
