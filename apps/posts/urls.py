from django.urls import path

from apps.posts import views

app_name = "posts"
urlpatterns = [
    path("", views.feed, name="feed"),
    path("feed/cards", views.feed_cards, name="cards"),
    path("p/<int:post_id>", views.post_detail, name="detail"),
    path("p/<int:post_id>/card", views.post_card, name="card"),
    path("p/<int:post_id>/react", views.react, name="react"),
    path("p/<int:post_id>/delete", views.delete, name="delete"),
]
