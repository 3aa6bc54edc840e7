"""Site pages of this app."""

app_name = "consent"
urlpatterns: list = []
