"""Site pages of this app."""

app_name = "provenance"
urlpatterns: list = []
