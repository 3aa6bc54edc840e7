from rest_framework import serializers

from apps.collections.models import NAME_MAX, POSTS_MAX, Collection


class CollectionIn(serializers.Serializer):
    name = serializers.CharField(max_length=NAME_MAX, min_length=1)
    visibility = serializers.ChoiceField(
        choices=Collection.Visibility.choices, required=False, default="private"
    )


class CollectionPatchIn(serializers.Serializer):
    name = serializers.CharField(max_length=NAME_MAX, min_length=1, required=False)
    visibility = serializers.ChoiceField(choices=Collection.Visibility.choices, required=False)


class CollectionOrderIn(serializers.Serializer):
    post_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        max_length=POSTS_MAX,
    )


class CoverOut(serializers.Serializer):
    post_id = serializers.CharField()
    url = serializers.CharField()
    placeholder = serializers.CharField()
    alt = serializers.CharField()


class CollectionOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    visibility = serializers.CharField()
    owner = serializers.CharField(source="owner.username")
    # The posts of it that the one asking may see (a saved post they can no longer see is
    # not counted, nor shown, nor the cover).
    posts_count = serializers.IntegerField()
    cover = CoverOut(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    # Only when the list was asked with ``?post_id=``: whether that post is in it (Save menu).
    contains_post = serializers.SerializerMethodField()

    def get_contains_post(self, collection) -> bool | None:
        return getattr(collection, "contains_post", None)
