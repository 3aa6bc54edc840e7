"""``/api/v1/`` routes of this app (included by apps.config.api_urls)."""

from django.urls import path

from apps.consent import api

urlpatterns = [
    path("me/consent/likeness", api.LikenessApi.as_view()),
    path("me/consent/likeness/uses", api.LikenessUsesApi.as_view()),
    path("me/consent/likeness/uses/<int:job_id>", api.LikenessUseDetailApi.as_view()),
    path("me/consent/training", api.TrainingApi.as_view()),
    path("me/consent/events", api.ConsentEventsApi.as_view()),
]
