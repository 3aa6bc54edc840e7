from django.urls import path

from apps.accounts import views

app_name = "accounts"
urlpatterns = [
    path("signup", views.signup, name="signup"),
    path("login", views.LoginView.as_view(), name="login"),
    path("logout", views.logout, name="logout"),
    path("settings/avatar", views.avatar_upload, name="avatar"),
    path("settings/password", views.password_change, name="password"),
    path("u/<str:username>", views.profile, name="profile"),
    path("u/<str:username>/follow", views.follow_toggle, name="follow"),
]
