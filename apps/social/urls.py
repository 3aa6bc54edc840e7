from django.urls import path

from apps.social import views

app_name = "social"
urlpatterns = [
    path("settings/requests/<str:username>", views.follow_request_answer, name="request"),
    path("u/<str:username>/block", views.block_toggle, name="block"),
    path("u/<str:username>/mute", views.mute_toggle, name="mute"),
    path("notifications", views.notifications, name="notifications"),
]
