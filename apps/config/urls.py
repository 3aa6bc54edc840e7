from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import include, path, reverse
from django.urls.resolvers import RegexPattern
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView

from apps.accounts import views as accounts_views
from apps.core import pwa
from apps.core import views as core_views

urlpatterns = [
    path("api/v1/", include("apps.config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("media/", include("apps.media.urls")),
    path("", include("apps.accounts.urls")),
    # django-allauth: email confirmation, password reset, two-factor, sessions. The reset page
    # is Vivid's (a per-address limit) at allauth's path and name.
    path("accounts/login/", accounts_views.LoginView.as_view(), name="account_login"),
    path("accounts/signup/", accounts_views.signup, name="account_signup"),
    path(
        "accounts/password/reset/",
        accounts_views.password_reset,
        name="account_reset_password",
    ),
    path("accounts/", include("allauth.urls")),
    path("", include("apps.generation.urls")),
    path("", include("apps.posts.urls")),
    path("", include("apps.social.urls")),
    path("", include("apps.provenance.urls")),
    path("", include("apps.consent.urls")),
    path("", include("apps.moderation.urls")),
    path("", include("apps.search.urls")),
    # --- discovery and collections ---
    path("", include("apps.discovery.urls")),
    path("", include("apps.collections.urls")),
    # --- end discovery and collections ---
    # --- languages: the switch (POST /i18n/setlang/) and the JavaScript catalog ---
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    # --- end languages ---
    # --- installable: the web app manifest and the service worker, at the site's root ---
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("sw.js", pwa.service_worker, name="service-worker"),
    # --- end installable ---
]


# --- The Django admin, at ADMIN_URL (docs/security.md) ---------------------------------------
def _admin_login(request, extra_context=None):
    """The admin signs in through the site's login, so its rate limits and second factor apply
    (the admin's own form has neither); a signed-in person who is not staff gets 403."""
    if request.user.is_authenticated:
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:index"))
    return redirect_to_login(request.GET.get("next") or request.get_full_path())


def _admin_urls():
    """The admin's routes, written as paths: its two regular-expression routes (an app's index
    for any registered app label, and a catch-all answering unknown paths) become one path per
    registered app, and unknown paths get the site's 404. Route walkers (tests) read paths only."""
    patterns, app_name, namespace = admin.site.urls
    routes = []
    for pattern in patterns:
        if not isinstance(pattern.pattern, RegexPattern):
            routes.append(pattern)
        elif pattern.name == "app_list":
            labels = sorted({model._meta.app_label for model in admin.site._registry})
            routes += [
                path(f"{label}/", pattern.callback, {"app_label": label}, name="app_list")
                for label in labels
            ]
    return routes, app_name, namespace


if settings.ADMIN_URL:
    admin.site.login = _admin_login
    urlpatterns.insert(0, path(settings.ADMIN_URL, _admin_urls()))

handler400 = core_views.bad_request
handler404 = core_views.not_found
handler500 = core_views.server_error
