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
    path("p/<int:post_id>/prompt", views.prompt_visibility, name="prompt"),
    path("p/<int:post_id>/alt", views.alt_text_edit, name="alt"),
    path("p/<int:post_id>/comments", views.post_comments, name="comments"),
    path("p/<int:post_id>/comment", views.comment_create, name="comment"),
    path(
        "p/<int:post_id>/comments/<int:comment_id>/delete",
        views.comment_delete,
        name="comment-delete",
    ),
    path("tags/<str:tag>", views.tag_feed, name="tag"),
]
