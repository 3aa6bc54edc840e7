"""Site pages of this app."""

from django.urls import path

from apps.moderation import views, views_actions, views_audit, views_cases

app_name = "moderation"
urlpatterns = [
    path("moderation/terms", views.terms, name="terms"),
    path("moderation/terms/add", views.term_add, name="term-add"),
    path("moderation/terms/<int:term_id>/remove", views.term_remove, name="term-remove"),
    path("moderation/holds/<int:hold_id>/clear", views.hold_clear, name="hold-clear"),
    path("report", views_cases.report, name="report"),
    path("reports/mine", views_cases.reports_mine, name="reports-mine"),
    path("moderation/", views_cases.queue_page, name="queue"),
    path("moderation/queue", views_cases.queue_page),
    path("moderation/cases/<int:case_id>", views_cases.case_page, name="case"),
    path("moderation/cases/<int:case_id>/claim", views_cases.case_claim, name="case-claim"),
    path(
        "moderation/cases/<int:case_id>/escalate",
        views_cases.case_escalate,
        name="case-escalate",
    ),
    path(
        "moderation/media/<int:asset_id>/<slug:variant>",
        views_cases.case_media,
        name="case-media",
    ),
    path("moderation/cases/<int:case_id>/act", views_actions.case_act, name="case-act"),
    path("moderation/bulk", views_actions.bulk, name="bulk"),
    path("moderation/appeals", views_actions.appeals_queue, name="appeals"),
    path(
        "moderation/appeals/<int:appeal_id>/decide",
        views_actions.appeal_decide,
        name="appeal-decide",
    ),
    path("moderation/audit", views_audit.audit_page, name="audit"),
    path("moderation/metrics", views_audit.metrics_page, name="metrics"),
    path("appeals", views_actions.appeals_mine, name="appeals-mine"),
    path("appeals/new", views_actions.appeal_create, name="appeal-create"),
    path("appeal/<str:token>", views_actions.appeal_by_link, name="appeal-link"),
]
