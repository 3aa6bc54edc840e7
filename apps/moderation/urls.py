"""Site pages of this app."""

app_name = "moderation"
urlpatterns: list = []
