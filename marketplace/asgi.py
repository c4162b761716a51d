"""ASGI entry point: HTTP through Django, websockets through Channels, and (embedded
mode) the sweeper as a background task of the server's event loop."""

import asyncio
import contextlib
import logging
import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler, with the middleware chain and the view run as one sync call.

    Every view but the health check is sync, and so are most middleware, so Django's own
    handler, which builds an async chain, crossed from the event loop into a thread for
    the outer middleware, back to the loop below the last sync one, and into the thread
    again for the view, restoring the request's context at each crossing. Here the chain
    runs in the thread Django gives the request (one per request, the same one that later
    closes the response), and the async health check is called from it as Django calls
    any async view from a sync chain."""

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


django.setup(set_prefix=False)
django_asgi_app = SyncChainASGIHandler()

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
