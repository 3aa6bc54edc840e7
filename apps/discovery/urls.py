from django.urls import path

from apps.discovery import views

app_name = "discovery"
urlpatterns = [path("explore", views.explore, name="explore")]
