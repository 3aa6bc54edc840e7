from django.urls import path

from apps.collections import views

app_name = "collections"
urlpatterns = [
    path("collections", views.collection_index, name="index"),
    path("collections/<int:collection_id>", views.collection_detail, name="detail"),
    path("collections/<int:collection_id>/edit", views.collection_edit, name="edit"),
    path(
        "collections/<int:collection_id>/posts/<int:post_id>",
        views.collection_item,
        name="item",
    ),
    path("collections/save/<int:post_id>", views.save, name="save"),
]
