from django.urls import path

from apps.discovery import api

urlpatterns = [
    path("explore", api.ExploreApi.as_view()),
    path("posts/<int:post_id>/similar", api.SimilarPostsApi.as_view()),
]
