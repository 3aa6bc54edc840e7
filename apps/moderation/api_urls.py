"""``/api/v1/`` routes of this app (included by apps.config.api_urls)."""

from django.urls import path

from apps.moderation import api, api_actions, api_audit, api_cases

urlpatterns = [
    path("moderation/terms", api.TermsApi.as_view()),
    path("moderation/terms/<int:term_id>", api.TermDetailApi.as_view()),
    path("moderation/holds", api.HoldsApi.as_view()),
    path("moderation/holds/<int:hold_id>/clear", api.HoldClearApi.as_view()),
    path("reports", api_cases.ReportsApi.as_view()),
    path("reports/mine", api_cases.ReportsMineApi.as_view()),
    path("moderation/queue", api_cases.QueueApi.as_view()),
    path("moderation/cases/<int:case_id>", api_cases.CaseDetailApi.as_view()),
    path("moderation/cases/<int:case_id>/claim", api_cases.CaseClaimApi.as_view()),
    path("moderation/cases/<int:case_id>/escalate", api_cases.CaseEscalateApi.as_view()),
    path("moderation/cases/<int:case_id>/actions", api_actions.CaseActionsApi.as_view()),
    path("moderation/actions/bulk", api_actions.BulkActionsApi.as_view()),
    path("appeals", api_actions.AppealsApi.as_view()),
    path("moderation/appeals", api_actions.AppealsPendingApi.as_view()),
    path("moderation/appeals/<int:appeal_id>", api_actions.AppealDecideApi.as_view()),
    path("moderation/audit", api_audit.AuditApi.as_view()),
    path("moderation/metrics", api_audit.MetricsApi.as_view()),
]
