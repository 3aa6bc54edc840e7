from django.urls import path

from apps.media import views

app_name = "media"
urlpatterns = [
    path("assets/<int:asset_id>/<slug:variant>", views.asset_file, name="asset-file"),
    path("s/<str:token>", views.signed_file, name="signed-file"),
]
