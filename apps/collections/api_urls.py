from django.urls import path

from apps.collections import api

urlpatterns = [
    path("collections", api.CollectionsApi.as_view()),
    path("collections/<int:collection_id>", api.CollectionDetailApi.as_view()),
    path("collections/<int:collection_id>/order", api.CollectionOrderApi.as_view()),
    path("collections/<int:collection_id>/posts/<int:post_id>", api.CollectionPostApi.as_view()),
    path("users/<str:username>/collections", api.UserCollectionsApi.as_view()),
]
