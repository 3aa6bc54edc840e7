from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.models import AccessToken, User, username_validator


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


class LinkOut(serializers.Serializer):
    label = serializers.CharField(max_length=40)
    url = serializers.URLField(max_length=300)


class MeOut(UserOut):
    links = LinkOut(many=True, read_only=True)

    class Meta(UserOut.Meta):
        fields = [*UserOut.Meta.fields, "email", "sensitive_media", "links"]


_CONTROL = r"\u0000-\u001f\u007f-\u009f"
_TEXT = f"[^{_CONTROL}]"
# A subset of what the service accepts, so that every link the schema allows is saved.
_URL_PATTERN = (
    r"^https?://([a-z0-9]{1,20}(-[a-z0-9]{1,20}){0,2}\.){1,4}[a-z]{2,10}(/[A-Za-z0-9._~-]*)*$"
)


@extend_schema_field(
    {
        "type": "array",
        "maxItems": 5,
        "items": {
            "type": "object",
            "properties": {
                "label": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 40,
                    # some visible text, no control characters
                    "pattern": f"^{_TEXT}*[^\\s{_CONTROL}]{_TEXT}*$",
                },
                "url": {
                    "type": "string",
                    "format": "uri",
                    "maxLength": 300,
                    "pattern": _URL_PATTERN,
                },
            },
            "required": ["label", "url"],
            "additionalProperties": False,
        },
    }
)
class LinksField(serializers.JSONField):
    """Any JSON here: ``services.links_validate`` refuses what is not a list of links, with
    flat messages under ``links`` (a nested serializer would answer nested error objects)."""


class MeIn(serializers.Serializer):
    display_name = serializers.CharField(max_length=60, allow_blank=True, required=False)
    bio = serializers.CharField(max_length=500, allow_blank=True, required=False)
    is_private = serializers.BooleanField(required=False)
    sensitive_media = serializers.ChoiceField(choices=User.SensitiveMedia.choices, required=False)
    # What a link may be (count, http(s), lengths) is checked by the service, the same for the
    # settings page (services.links_validate).
    links = LinksField(
        required=False,
        help_text="At most 5 {label, url}: label up to 40 characters, an http(s) url up to 300.",
    )


class ProfileOut(UserOut):
    links = LinkOut(many=True, read_only=True)
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
            "links",
            "followers_count",
            "following_count",
            "posts_count",
            "viewer_follows",
            "follow_state",
            "viewer_mutes",
        ]


@extend_schema_field(
    {"type": "string", "pattern": username_validator.regex.pattern, "minLength": 3, "maxLength": 30}
)
class NewUsernameField(serializers.CharField):
    """A username to create: the service checks its rule together with the other fields (every
    error in one answer); the schema states the rule."""


class SignupIn(serializers.Serializer):
    username = NewUsernameField(max_length=150)
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=256, write_only=True)


class TokenCreateIn(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, write_only=True)
    scopes = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False, max_length=5
    )
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    expires_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="ISO 8601 with a time zone; in the future, at most a year ahead.",
    )
    expires_in_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=365
    )

    def validate(self, data):
        if data.get("expires_at") is not None and data.get("expires_in_days") is not None:
            raise serializers.ValidationError(
                {"expires_at": ["Give expires_at or expires_in_days, not both."]}
            )
        return data


class TokenOut(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)

    class Meta:
        model = AccessToken
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
        ]


class TokenPageOut(serializers.Serializer):
    """A page of tokens: ``{items, next_cursor}`` like every list."""

    items = TokenOut(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class TokenCreatedOut(TokenOut):
    token = serializers.CharField()

    class Meta(TokenOut.Meta):
        fields = [*TokenOut.Meta.fields, "token"]


class SignupOut(serializers.Serializer):
    user = MeOut()
    token = serializers.CharField()
