from rest_framework import serializers

from apps.accounts.serializers import UserOut
from apps.media.serializers import AssetOut
from apps.posts.models import REACTION_KINDS, Post


class PostIn(serializers.Serializer):
    asset_id = serializers.IntegerField(min_value=1)
    caption = serializers.CharField(max_length=2200, required=False, allow_blank=True, default="")
    visibility = serializers.ChoiceField(choices=Post.Visibility.choices)
    remix_of = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    allow_remix = serializers.BooleanField(required=False, default=True)
    training_use = serializers.BooleanField(required=False, default=False)
    sensitive = serializers.BooleanField(required=False, default=False)
    hide_prompt = serializers.BooleanField(required=False, default=False)


class ReactionIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=REACTION_KINDS)


class PostOut(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)
    author = UserOut(read_only=True)
    asset = AssetOut(read_only=True)
    remix_of = serializers.SerializerMethodField()
    reactions = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    viewer_reactions = serializers.SerializerMethodField()
    provenance_id = serializers.SerializerMethodField()
    labels = serializers.SerializerMethodField()
    cursor = serializers.SerializerMethodField()

    class Meta:
        model = Post
        fields = [
            "id",
            "author",
            "asset",
            "caption",
            "visibility",
            "remix_of",
            "remix_count",
            "allow_remix",
            "sensitive",
            "reactions",
            "viewer_reactions",
            "comments_count",
            "provenance_id",
            "created_at",
            "labels",
            "cursor",
        ]

    def get_remix_of(self, post: Post) -> str | None:
        return str(post.remix_of_id) if post.remix_of_id else None

    def get_viewer_reactions(self, post: Post) -> list[str]:
        return self.context.get("viewer_reactions", {}).get(post.id, [])

    def get_provenance_id(self, post: Post) -> str | None:
        return None  # signed provenance records arrive with the provenance app

    def get_labels(self, post: Post) -> list[str]:
        return ["ai_generated", *(["sensitive"] if post.sensitive else [])]

    def get_cursor(self, post: Post) -> str:
        return str(post.id)


class ReactionsOut(serializers.Serializer):
    reactions = serializers.DictField(child=serializers.IntegerField())
    viewer_reactions = serializers.ListField(child=serializers.CharField())
