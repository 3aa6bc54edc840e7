"""``/api/v1/`` routes of this app (included by apps.config.api_urls)."""

from django.urls import path

from apps.moderation import api

urlpatterns = [
    path("moderation/terms", api.TermsApi.as_view()),
    path("moderation/terms/<int:term_id>", api.TermDetailApi.as_view()),
    path("moderation/holds", api.HoldsApi.as_view()),
    path("moderation/holds/<int:hold_id>/clear", api.HoldClearApi.as_view()),
]
