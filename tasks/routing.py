from django.urls import path

from . import consumers, ops_consumer

# Channels routes sockets with Django's path(), as its documentation shows; django-stubs types
# path() for HTTP views only.
websocket_urlpatterns = [
    path("ws/agent/", consumers.AgentConsumer.as_asgi()),  # type: ignore[arg-type]
    path("ws/customer/<str:token>/", consumers.CustomerConsumer.as_asgi()),  # type: ignore[arg-type]
    path("ws/supervisor/", ops_consumer.SupervisorConsumer.as_asgi()),  # type: ignore[arg-type]
]
