"""``/api/v1/`` routes of this app (included by apps.config.api_urls)."""

from django.urls import path

from apps.provenance import api, verify_api

urlpatterns: list = [
    path("provenance/verify", verify_api.VerifyApi.as_view()),
    path("provenance/<int:record_id>", api.ProvenanceDetailApi.as_view()),
    path("provenance/<int:record_id>/lineage", api.ProvenanceLineageApi.as_view()),
]
