from django.urls import path

from apps.generation import views

app_name = "generation"
urlpatterns = [
    path("create", views.create, name="create"),
    path("library", views.library, name="library"),
    path("library/items", views.library_items, name="library-items"),
    path("library/items/<int:job_id>", views.library_item, name="library-item"),
]
