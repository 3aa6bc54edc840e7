"""``/api/v1/`` routes of this app (included by apps.config.api_urls)."""

urlpatterns: list = []
