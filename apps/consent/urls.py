"""Site pages of this app."""

from django.urls import path

from apps.consent import views

app_name = "consent"
urlpatterns = [
    path("settings/consent", views.consent_settings, name="settings"),
    path("settings/consent/likeness", views.likeness_policy, name="policy"),
    path("settings/consent/approved", views.likeness_approved, name="approved"),
    path("settings/consent/uses/<int:job_id>/remove", views.likeness_use_remove, name="use-remove"),
    path("settings/consent/training", views.training_default, name="training"),
]
