"""``/api/v1/`` routes of this app (included by apps.config.api_urls)."""

from django.urls import path

from apps.moderation import api, api_actions

urlpatterns = [
    path("moderation/terms", api.TermsApi.as_view()),
    path("moderation/terms/<int:term_id>", api.TermDetailApi.as_view()),
    path("moderation/holds", api.HoldsApi.as_view()),
    path("moderation/holds/<int:hold_id>/clear", api.HoldClearApi.as_view()),
    path("moderation/cases/<int:case_id>/actions", api_actions.CaseActionsApi.as_view()),
    path("moderation/actions/bulk", api_actions.BulkActionsApi.as_view()),
    path("appeals", api_actions.AppealsApi.as_view()),
    path("moderation/appeals", api_actions.AppealsPendingApi.as_view()),
    path("moderation/appeals/<int:appeal_id>", api_actions.AppealDecideApi.as_view()),
]
