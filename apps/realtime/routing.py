from django.urls import path

from apps.realtime.auth import TokenOrSessionAuth
from apps.realtime.consumers import StreamConsumer

websocket_urlpatterns = [path("ws/", StreamConsumer.as_asgi())]


def _router():
    from channels.routing import URLRouter

    return TokenOrSessionAuth(URLRouter(websocket_urlpatterns))


websocket_application = _router()
