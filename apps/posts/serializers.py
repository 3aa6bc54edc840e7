from django.core.validators import RegexValidator
from rest_framework import serializers

from apps.accounts.serializers import UserOut
from apps.media.serializers import MISSING, AssetOut, provenance_id_of
from apps.posts.alt import ALT_TEXT_MAX, ALT_TEXT_PATTERN
from apps.posts.models import REACTION_KINDS, Comment, Post

_ALT_TEXT_VALID = RegexValidator(ALT_TEXT_PATTERN, "Control characters are not allowed.")


class PostIn(serializers.Serializer):
    asset_id = serializers.IntegerField(min_value=1)
    caption = serializers.CharField(max_length=2200, required=False, allow_blank=True, default="")
    visibility = serializers.ChoiceField(choices=Post.Visibility.choices)
    remix_of = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    allow_remix = serializers.BooleanField(required=False, default=True)
    # Omitted (null): the author's training default (apps.consent).
    training_use = serializers.BooleanField(required=False, allow_null=True, default=None)
    sensitive = serializers.BooleanField(required=False, default=False)
    hide_prompt = serializers.BooleanField(required=False, default=False)
    # The text alternative for people who cannot see the picture; bounds and control characters
    # are checked by the service (``apps.posts.alt.alt_text_clean``) for every writer.
    alt_text = serializers.CharField(
        max_length=ALT_TEXT_MAX,
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        validators=[_ALT_TEXT_VALID],
    )


class PostPatchIn(serializers.Serializer):
    hide_prompt = serializers.BooleanField(required=False)
    alt_text = serializers.CharField(
        max_length=ALT_TEXT_MAX,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        validators=[_ALT_TEXT_VALID],
    )


class AltSuggestionOut(serializers.Serializer):
    asset_id = serializers.CharField()
    suggestion = serializers.CharField(allow_blank=True)


class ReactionIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=REACTION_KINDS)


class PostOut(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)
    author = UserOut(read_only=True)
    asset = AssetOut(read_only=True)
    remix_of = serializers.SerializerMethodField()
    # True when the original of this remix is gone (its author deleted their account); then
    # ``remix_of`` is null and the post says "original deleted".
    remix_of_deleted = serializers.SerializerMethodField()
    reactions = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    viewer_reactions = serializers.SerializerMethodField()
    provenance_id = serializers.SerializerMethodField()
    labels = serializers.SerializerMethodField()
    cursor = serializers.SerializerMethodField()
    hashtags = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Post
        fields = [
            "id",
            "author",
            "asset",
            "caption",
            "alt_text",
            "hashtags",
            "visibility",
            "remix_of",
            "remix_of_deleted",
            "remix_count",
            "allow_remix",
            "training_use",
            "sensitive",
            "hide_prompt",
            "reactions",
            "viewer_reactions",
            "comments_count",
            "provenance_id",
            "created_at",
            "labels",
            "cursor",
        ]

    def get_remix_of(self, post: Post) -> str | None:
        return str(post.remix_of_id) if post.remix_of_id and not remix_gone(post) else None

    def get_remix_of_deleted(self, post: Post) -> bool:
        return remix_gone(post)

    def get_viewer_reactions(self, post: Post) -> list[str]:
        return self.context.get("viewer_reactions", {}).get(post.id, [])

    def get_provenance_id(self, post: Post) -> str | None:
        return provenance_id_of(post.asset, getattr(post, "asset_provenance_id", MISSING))

    def get_labels(self, post: Post) -> list[str]:
        return ["ai_generated", *(["sensitive"] if post.sensitive else [])]

    def get_cursor(self, post: Post) -> str:
        return str(post.id)


def remix_gone(post: Post) -> bool:
    """Is ``post`` a remix whose original's author deleted their account? Read from the feed
    query's ``remix_of_deleted_at`` (``apps.posts.selectors``), else asked once."""
    if not post.remix_of_id:
        return False
    gone_at = getattr(post, "remix_of_deleted_at", MISSING)
    if gone_at is MISSING:
        gone_at = (
            Post.objects.filter(pk=post.remix_of_id)
            .values_list("author__deletion_requested_at", flat=True)
            .first()
        )
        post.remix_of_deleted_at = gone_at
    return gone_at is not None


class ReactionsOut(serializers.Serializer):
    reactions = serializers.DictField(child=serializers.IntegerField())
    viewer_reactions = serializers.ListField(child=serializers.CharField())


class CommentIn(serializers.Serializer):
    body = serializers.CharField(max_length=2000, trim_whitespace=True)
    parent_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class CommentOut(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)
    author = UserOut(read_only=True)
    parent_id = serializers.SerializerMethodField()
    replies = serializers.SerializerMethodField()

    class Meta:
        model = Comment
        fields = ["id", "author", "body", "parent_id", "replies", "created_at"]

    def get_parent_id(self, comment: Comment) -> str | None:
        return str(comment.parent_id) if comment.parent_id else None

    def get_replies(self, comment: Comment) -> list[dict]:
        replies = getattr(comment, "reply_list", None) or []
        return CommentOut(replies, many=True).data


# --- the feed's fast path -------------------------------------------------------------------
#
# A feed page renders up to 100 posts; through DRF's field machinery that costs more than the
# database query behind it. ``posts_data`` builds the same JSON as ``PostOut`` directly (a test
# holds the two equal), falling back to the serializers for any field it does not know, so a
# field added to ``PostOut``, ``UserOut`` or ``AssetOut`` still appears.


class _UrlTemplate:
    """``reverse`` once with placeholder arguments, then format: the same URL for a fraction of
    the cost (a page would otherwise reverse a few hundred times)."""

    def __init__(self, name: str, **placeholders: str) -> None:
        self.name, self.placeholders, self._template = name, placeholders, None

    def __call__(self, **kwargs) -> str:
        if self._template is None:
            from django.urls import reverse

            self._template = reverse(self.name, kwargs=self.placeholders)
        url = self._template
        for key, placeholder in self.placeholders.items():
            url = url.replace(placeholder, str(kwargs[key]), 1)
        return url


_asset_file = _UrlTemplate("media:asset-file", asset_id="8888888888888888888", variant="vvvvvvvv")


def _plain(serializer_class, obj, known: dict) -> dict:
    out = {}
    slow = None
    for name in serializer_class.Meta.fields:
        if name in known:
            out[name] = known[name](obj)
        else:
            field = serializer_class._declared_fields.get(name)
            model_fields = _MODEL_FIELDS.get(serializer_class)
            if model_fields is None:
                model_fields = {f.name for f in serializer_class.Meta.model._meta.fields}
                _MODEL_FIELDS[serializer_class] = model_fields
            if field is None and name in model_fields:
                value = getattr(obj, name)
                out[name] = (
                    value.isoformat().replace("+00:00", "Z")
                    if hasattr(value, "isoformat")
                    else value
                )
            else:
                slow = slow or serializer_class(obj).data
                out[name] = slow[name]
    return out


_MODEL_FIELDS: dict = {}


def _author(user) -> dict:
    return _plain(
        UserOut,
        user,
        {
            "id": lambda u: str(u.id),
            "avatar_url": lambda u: (
                _asset_file(asset_id=u.avatar_id, variant="thumb")
                if getattr(u, "avatar_id", None)
                else None
            ),
        },
    )


def _variant_urls(asset_id: int, variants: dict, base: str | None = None) -> dict[str, str]:
    """What ``asset_url`` gives for each variant: the URL with the variant's version.

    ``base``: the asset's file URL up to the variant (``_asset_base``), when the caller has it."""
    out = {}
    for name in sorted(variants):
        url = base + name if base is not None else _asset_file(asset_id=asset_id, variant=name)
        path = variants[name]
        if path:
            url += "?v=" + path.rsplit("/", 1)[-1].split(".")[0].rsplit("-", 1)[-1][:12]
        out[name] = url
    return out


def _asset(asset) -> dict:
    return _plain(
        AssetOut,
        asset,
        {
            "id": lambda a: str(a.id),
            "original_url": lambda a: _asset_file(asset_id=a.id, variant="original"),
            "variants": lambda a: _variant_urls(a.id, a.variants),
            "provenance_id": lambda a: provenance_id_of(a, getattr(a, "_provenance_id", MISSING)),
        },
    )


def posts_data(posts, viewer_reactions: dict[int, list[str]]) -> list[dict]:
    """The ``PostOut`` JSON of many posts (authors and assets already joined), quickly."""
    from apps.posts.text import hashtags

    known = {
        "id": lambda p: str(p.id),
        "author": lambda p: _author(p.author),
        "asset": lambda p: _asset(p.asset),
        "hashtags": lambda p: hashtags(p.caption),
        "remix_of": lambda p: str(p.remix_of_id) if p.remix_of_id and not remix_gone(p) else None,
        "remix_of_deleted": remix_gone,
        "reactions": lambda p: p.reactions,
        "viewer_reactions": lambda p: viewer_reactions.get(p.id, []),
        "provenance_id": lambda p: provenance_id_of(
            p.asset, getattr(p, "asset_provenance_id", MISSING)
        ),
        "labels": lambda p: ["ai_generated", *(["sensitive"] if p.sensitive else [])],
        "cursor": lambda p: str(p.id),
    }
    for post in posts:  # the asset's record, joined by the feed's query
        post.asset._provenance_id = getattr(post, "asset_provenance_id", MISSING)
    return [_plain(PostOut, post, known) for post in posts]


# The home feed's rows (``apps.posts.selectors.feed_home_rows``) to the same JSON, without models.

_ROW_POST_FIELDS = [
    "id",
    "author",
    "asset",
    "caption",
    "alt_text",
    "hashtags",
    "visibility",
    "remix_of",
    "remix_of_deleted",
    "remix_count",
    "allow_remix",
    "training_use",
    "sensitive",
    "hide_prompt",
    "reactions",
    "viewer_reactions",
    "comments_count",
    "provenance_id",
    "created_at",
    "labels",
    "cursor",
]
_ROW_USER_FIELDS = ["id", "username", "display_name", "bio", "avatar_url", "is_private"]
_ROW_ASSET_FIELDS = [
    "id",
    "kind",
    "mime",
    "width",
    "height",
    "duration_s",
    "fps",
    "sha256",
    "phash",
    "bytes",
    "placeholder",
    "original_url",
    "variants",
    "provenance_id",
]


def rows_cover_serializers() -> bool:
    """Whether ``post_rows_data`` knows every field of ``PostOut``, ``UserOut`` and ``AssetOut``
    (a field added to one of them sends the feed back to the model path until it learns it)."""
    return (
        list(PostOut.Meta.fields) == _ROW_POST_FIELDS
        and list(UserOut.Meta.fields) == _ROW_USER_FIELDS
        and list(AssetOut.Meta.fields) == _ROW_ASSET_FIELDS
    )


_BASE_FORMAT: list[str] = []


def _asset_base(asset_id: int) -> str | None:
    """The asset file URL without its final variant segment, when the route ends with it."""
    if not _BASE_FORMAT:
        url = _asset_file(asset_id="{asset_id}", variant="\x00")
        _BASE_FORMAT.append(url[:-1] if url.endswith("\x00") and url.count("\x00") == 1 else "")
    return _BASE_FORMAT[0].format(asset_id=asset_id) if _BASE_FORMAT[0] else None


def _iso(value) -> str:
    value = value.isoformat()
    return value[:-6] + "Z" if value.endswith("+00:00") else value


def _str_or_none(value) -> str | None:
    return str(value) if value is not None else None


def post_rows_data(rows) -> list[dict]:
    """The ``PostOut`` JSON of feed rows, in ``PostOut``'s field order."""
    from apps.posts.text import hashtags

    out = []
    for r in rows:
        post_id, asset_id, avatar_id = r["id"], r["asset_id"], r["author__avatar_id"]
        base = _asset_base(asset_id)
        out.append(
            {
                "id": str(post_id),
                "author": {
                    "id": str(r["author_id"]),
                    "username": r["author__username"],
                    "display_name": r["author__display_name"],
                    "bio": r["author__bio"],
                    "avatar_url": (
                        _asset_file(asset_id=avatar_id, variant="thumb") if avatar_id else None
                    ),
                    "is_private": r["author__is_private"],
                },
                "asset": {
                    "id": str(asset_id),
                    "kind": r["asset__kind"],
                    "mime": r["asset__mime"],
                    "width": r["asset__width"],
                    "height": r["asset__height"],
                    "duration_s": r["asset__duration_s"],
                    "fps": r["asset__fps"],
                    "sha256": r["asset__sha256"],
                    "phash": r["asset__phash"],
                    "bytes": r["asset__bytes"],
                    "placeholder": r["asset__placeholder"],
                    "original_url": (
                        base + "original"
                        if base is not None
                        else _asset_file(asset_id=asset_id, variant="original")
                    ),
                    "variants": _variant_urls(asset_id, r["asset__variants"], base),
                    "provenance_id": _str_or_none(r.get("asset__provenance__id")),
                },
                "caption": r["caption"],
                "alt_text": r["alt_text"],
                "hashtags": hashtags(r["caption"]),
                "visibility": r["visibility"],
                "remix_of": (
                    str(r["remix_of_id"])
                    if r["remix_of_id"] and r["remix_of__author__deletion_requested_at"] is None
                    else None
                ),
                "remix_of_deleted": bool(
                    r["remix_of_id"] and r["remix_of__author__deletion_requested_at"] is not None
                ),
                "remix_count": r["remix_count"],
                "allow_remix": r["allow_remix"],
                "training_use": r["training_use"],
                "sensitive": r["sensitive"],
                "hide_prompt": r["hide_prompt"],
                "reactions": {kind: r[f"{kind}_count"] for kind in REACTION_KINDS},
                "viewer_reactions": list(r["viewer_kinds"] or []),
                "comments_count": r["comments_count"],
                "provenance_id": _str_or_none(r.get("asset__provenance__id")),
                "created_at": _iso(r["created_at"]),
                "labels": ["ai_generated", "sensitive"] if r["sensitive"] else ["ai_generated"],
                "cursor": str(post_id),
            }
        )
    return out
