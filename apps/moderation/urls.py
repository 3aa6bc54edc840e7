"""Site pages of this app."""

from django.urls import path

from apps.moderation import views, views_actions

app_name = "moderation"
urlpatterns = [
    path("moderation/terms", views.terms, name="terms"),
    path("moderation/terms/add", views.term_add, name="term-add"),
    path("moderation/terms/<int:term_id>/remove", views.term_remove, name="term-remove"),
    path("moderation/holds/<int:hold_id>/clear", views.hold_clear, name="hold-clear"),
    path("moderation/cases/<int:case_id>/act", views_actions.case_act, name="case-act"),
    path("moderation/bulk", views_actions.bulk, name="bulk"),
    path("moderation/appeals", views_actions.appeals_queue, name="appeals"),
    path(
        "moderation/appeals/<int:appeal_id>/decide",
        views_actions.appeal_decide,
        name="appeal-decide",
    ),
    path("appeals", views_actions.appeals_mine, name="appeals-mine"),
    path("appeals/new", views_actions.appeal_create, name="appeal-create"),
]
