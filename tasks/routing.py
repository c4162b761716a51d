from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/agent/", consumers.AgentConsumer.as_asgi()),
    path("ws/customer/<str:token>/", consumers.CustomerConsumer.as_asgi()),
]
