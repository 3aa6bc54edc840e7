"""The ASGI application: Django for HTTP, the realtime consumer for WebSockets at ``/ws/``."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from apps.media.bodylimit import BodyLimitMiddleware  # noqa: E402
from apps.realtime.routing import websocket_application  # noqa: E402

# Bodies over a route's cap are refused from Content-Length before Django reads them.
application = ProtocolTypeRouter(
    {"http": BodyLimitMiddleware(django_asgi_app), "websocket": websocket_application}
)
