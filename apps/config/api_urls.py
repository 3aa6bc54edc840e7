"""``/api/v1/``: the public HTTP contract of ../shared/API.md."""

from django.urls import include, path

from apps.accounts import api as accounts
from apps.accounts import api_export
from apps.accounts.api_deletion import MeWithDeletionApi
from apps.generation import api as generation
from apps.media import api as media
from apps.notifications import api as notifications
from apps.posts import api as posts
from apps.search import api as search
from apps.social import api as social

urlpatterns = [
    path("auth/signup", accounts.SignupApi.as_view()),
    path("auth/tokens", accounts.TokensApi.as_view()),
    path("auth/tokens/<int:token_id>", accounts.TokenDetailApi.as_view()),
    path("me", MeWithDeletionApi.as_view()),  # GET, PATCH and DELETE (account deletion)
    path("me/avatar", accounts.MeAvatarApi.as_view()),
    path("me/password", accounts.MePasswordApi.as_view()),
    path("me/export", api_export.ExportsApi.as_view()),
    path("me/export/<int:export_id>", api_export.ExportDetailApi.as_view()),
    path("users/<str:username>", accounts.UserDetailApi.as_view()),
    path("users/<str:username>/posts", posts.UserPostsApi.as_view()),
    path("users/<str:username>/follow", social.FollowApi.as_view()),
    path("users/<str:username>/block", social.BlockApi.as_view()),
    path("users/<str:username>/mute", social.MuteApi.as_view()),
    path("me/follow_requests", social.FollowRequestsApi.as_view()),
    path("me/follow_requests/<str:username>", social.FollowRequestDetailApi.as_view()),
    path("me/followers/<str:username>", social.FollowerDetailApi.as_view()),
    path("me/blocks", social.BlocksListApi.as_view()),
    path("me/mutes", social.MutesListApi.as_view()),
    path("notifications", notifications.NotificationsApi.as_view()),
    path("notifications/read", notifications.NotificationsReadApi.as_view()),
    path("generation/backends", generation.BackendsApi.as_view()),
    path("generations", generation.JobsApi.as_view()),
    path("generations/<int:job_id>", generation.JobDetailApi.as_view()),
    path("generations/<int:job_id>/cancel", generation.JobCancelApi.as_view()),
    path("generation/quota", generation.QuotaApi.as_view()),
    path("edits", generation.EditsApi.as_view()),
    path("assets/<int:asset_id>", media.AssetApi.as_view()),
    path("assets/<int:asset_id>/alt-suggestion", posts.AltSuggestionApi.as_view()),
    path("posts", posts.PostsApi.as_view()),
    path("posts/<int:post_id>", posts.PostDetailApi.as_view()),
    path("posts/<int:post_id>/reactions", posts.ReactionsApi.as_view()),
    path("posts/<int:post_id>/reactions/<str:kind>", posts.ReactionDetailApi.as_view()),
    path("posts/<int:post_id>/comments", posts.CommentsApi.as_view()),
    path("posts/<int:post_id>/comments/<int:comment_id>", posts.CommentDetailApi.as_view()),
    path("posts/<int:post_id>/remixes", posts.RemixesApi.as_view()),
    path("tags/<str:tag>/posts", posts.TagPostsApi.as_view()),
    path("feed/home", posts.HomeFeedApi.as_view()),
    path("feed/public", posts.PublicFeedApi.as_view()),
    path("search", search.SearchApi.as_view()),
    # Newer apps keep their routes beside their views.
    path("", include("apps.provenance.api_urls")),
    path("", include("apps.consent.api_urls")),
    path("", include("apps.moderation.api_urls")),
    # --- discovery and collections ---
    path("", include("apps.discovery.api_urls")),
    path("", include("apps.collections.api_urls")),
    # --- end discovery and collections ---
]
