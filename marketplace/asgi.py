"""ASGI entry point: HTTP through Django, websockets through Channels, and (embedded
mode) the sweeper as a background task of the server's event loop."""

import asyncio
import contextlib
import logging
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from marketplace.admission import AdmissionMiddleware  # noqa: E402
from marketplace.ws_auth import BrowserOriginValidator, TokenAuthMiddleware  # noqa: E402
from tasks.routing import websocket_urlpatterns  # noqa: E402

log = logging.getLogger(__name__)


class Lifespan:
    """On server startup: says in the log when Redis cannot be reached, and starts the
    in-process sweeper when SWEEPER_IN_PROCESS is on."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)
        task = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                from marketplace.unavailable import check_redis_at_start

                await asyncio.to_thread(check_redis_at_start)
                if settings.SWEEPER_IN_PROCESS:
                    from tasks.sweeper import run_forever

                    task = asyncio.create_task(run_forever())
                    log.info("in-process sweeper started")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if task:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await send({"type": "lifespan.shutdown.complete"})
                return


application = Lifespan(
    ProtocolTypeRouter(
        {
            "http": AdmissionMiddleware(django_asgi_app),
            # Channels' stubs want their own type-check-only pattern class, which path() cannot
            # return (tasks/routing.py).
            "websocket": BrowserOriginValidator(
                AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))  # type: ignore[arg-type]
            ),
        }
    )
)
