"""Site pages of this app."""

from django.urls import path

from apps.provenance import verify_views, views

app_name = "provenance"
urlpatterns: list = [
    path("verify", verify_views.verify_page, name="verify"),
    path("provenance/<int:record_id>", views.record_page, name="record"),
]
