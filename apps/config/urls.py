from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from apps.core import views as core_views

urlpatterns = [
    path("api/v1/", include("apps.config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("media/", include("apps.media.urls")),
    path("", include("apps.accounts.urls")),
    path("", include("apps.generation.urls")),
    path("", include("apps.posts.urls")),
    path("", include("apps.social.urls")),
    path("", include("apps.provenance.urls")),
    path("", include("apps.consent.urls")),
    path("", include("apps.moderation.urls")),
]

handler400 = core_views.bad_request
handler404 = core_views.not_found
handler500 = core_views.server_error
