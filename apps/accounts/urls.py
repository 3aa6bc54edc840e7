from django.urls import path

from apps.accounts import views, views_export, views_settings
from apps.accounts.views_deletion import account_delete

app_name = "accounts"
urlpatterns = [
    path("signup", views.signup, name="signup"),
    path("login", views.LoginView.as_view(), name="login"),
    path("logout", views.logout, name="logout"),
    path("settings/avatar", views.avatar_upload, name="avatar"),
    path("settings/password", views.password_change, name="password"),
    # The settings area (views_settings). /settings/privacy is the whole privacy page,
    # follow requests, blocks and mutes included.
    path("settings/", views_settings.settings_index, name="settings"),
    path("settings/profile", views_settings.settings_profile, name="settings_profile"),
    path("settings/privacy", views_settings.settings_privacy, name="settings_privacy"),
    path("settings/security", views_settings.settings_security, name="settings_security"),
    path("settings/tokens", views_settings.settings_tokens, name="settings_tokens"),
    path(
        "settings/tokens/<int:token_id>/revoke",
        views_settings.settings_token_revoke,
        name="settings_token_revoke",
    ),
    path("settings/data", views_settings.settings_data, name="settings_data"),
    # Data export (views_export): the page, and the signed download its links point at.
    path("settings/data/export", views_export.export_page, name="export"),
    path(
        "exports/<int:export_id>/download",
        views_export.export_download,
        name="export-download",
    ),
    path("settings/data/delete", account_delete, name="delete"),
    path("u/<str:username>", views.profile, name="profile"),
    path("u/<str:username>/follow", views.follow_toggle, name="follow"),
]
