"""The site's URLs plus an API view and a page that fail unexpectedly (tests/core/test_errors)."""

from django.urls import path
from rest_framework.views import APIView

from apps.config.urls import handler404, handler500  # noqa: F401
from apps.config.urls import urlpatterns as site


class BoomApi(APIView):
    permission_classes = []

    def get(self, request):
        raise RuntimeError("an unexpected failure")


def boom_page(request):
    raise RuntimeError("an unexpected failure on a page")


urlpatterns = [
    path("api/v1/test-boom", BoomApi.as_view()),
    path("test-boom", boom_page),
    *site,
]
