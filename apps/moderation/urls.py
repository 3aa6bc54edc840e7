"""Site pages of this app."""

from django.urls import path

from apps.moderation import views

app_name = "moderation"
urlpatterns = [
    path("moderation/terms", views.terms, name="terms"),
    path("moderation/terms/add", views.term_add, name="term-add"),
    path("moderation/terms/<int:term_id>/remove", views.term_remove, name="term-remove"),
    path("moderation/holds/<int:hold_id>/clear", views.hold_clear, name="hold-clear"),
]
