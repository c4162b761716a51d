"""`/ws/supervisor/`: the supervisors' live view of their brands.

A supervisor (or platform staff) connects with the session cookie or `Authorization:
Token`, joins the operations group of every brand they supervise (tasks.realtime.ops_group;
staff: every brand), gets one `ops.snapshot` and then every `ticket.changed`,
`agent.changed` and `intake.changed` of those brands as it happens. The socket only
listens: the only client frame is `ping`; actions are REST calls (tasks.ops_api).
"""

from typing import Any

from marketplace.unavailable import MESSAGE as UNAVAILABLE_MESSAGE
from marketplace.unavailable import UNAVAILABLE_ERRORS

from .client_frames import SUPERVISOR_FRAMES, ClientFrame, Ping
from .consumers import FrameConsumer, database_sync_to_async
from .ops_selectors import ops_brand_ids, ops_snapshot
from .realtime import ops_group


class SupervisorConsumer(FrameConsumer):
    handlers = SUPERVISOR_FRAMES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.joined: list[str] = []

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not getattr(user, "is_authenticated", False):
            return await self.refuse("unauthenticated", "Log in, or send Authorization: Token <token>.", 4401)
        brand_ids = await database_sync_to_async(ops_brand_ids)(user)
        if brand_ids is None:
            return await self.refuse("forbidden", "Only supervisors and platform staff follow the live view.", 4403)
        # Join first, then read the snapshot: a change committed in between is pushed to the
        # group (events wait until connect returns), never lost between the two.
        try:
            for brand_id in sorted(brand_ids):
                group = ops_group(brand_id)
                await self.channel_layer.group_add(group, self.channel_name)
                self.joined.append(group)
        except UNAVAILABLE_ERRORS:
            return await self.refuse("service_unavailable", UNAVAILABLE_MESSAGE, 1013)
        await self.accept()
        await self.send_frame(await database_sync_to_async(ops_snapshot)(brand_ids))

    async def disconnect(self, code: int) -> None:
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def handle(self, frame: ClientFrame, client_ref: str) -> dict[str, Any] | None:
        match frame:
            case Ping():
                pass
        return None
