from django.urls import reverse
from rest_framework import serializers

from apps.accounts.models import AccessToken, User


class UserOut(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)
    avatar_url = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "bio", "avatar_url", "is_private"]

    def get_avatar_url(self, user: User) -> str | None:
        """The profile picture's thumbnail (public to everyone), or null."""
        if not user.avatar_id:
            return None
        return reverse("media:asset-file", kwargs={"asset_id": user.avatar_id, "variant": "thumb"})


class MeOut(UserOut):
    class Meta(UserOut.Meta):
        fields = [*UserOut.Meta.fields, "email", "sensitive_media"]


class MeIn(serializers.Serializer):
    display_name = serializers.CharField(max_length=60, allow_blank=True, required=False)
    bio = serializers.CharField(max_length=500, allow_blank=True, required=False)
    is_private = serializers.BooleanField(required=False)
    sensitive_media = serializers.ChoiceField(choices=User.SensitiveMedia.choices, required=False)


class ProfileOut(UserOut):
    followers_count = serializers.IntegerField(read_only=True)
    following_count = serializers.IntegerField(read_only=True)
    posts_count = serializers.IntegerField(read_only=True)
    viewer_follows = serializers.BooleanField(read_only=True)
    # "following", "requested" (a private account has not answered yet) or "none".
    follow_state = serializers.CharField(read_only=True)
    viewer_mutes = serializers.BooleanField(read_only=True)

    class Meta(UserOut.Meta):
        fields = [
            *UserOut.Meta.fields,
            "followers_count",
            "following_count",
            "posts_count",
            "viewer_follows",
            "follow_state",
            "viewer_mutes",
        ]


class SignupIn(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=256, write_only=True)


class TokenCreateIn(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, write_only=True)
    scopes = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False, max_length=5
    )
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)


class TokenOut(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)

    class Meta:
        model = AccessToken
        fields = ["id", "name", "prefix", "scopes", "created_at", "last_used_at"]


class TokenCreatedOut(TokenOut):
    token = serializers.CharField()

    class Meta(TokenOut.Meta):
        fields = [*TokenOut.Meta.fields, "token"]


class SignupOut(serializers.Serializer):
    user = MeOut()
    token = serializers.CharField()
