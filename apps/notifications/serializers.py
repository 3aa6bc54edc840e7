from rest_framework import serializers

from apps.accounts.serializers import UserOut
from apps.notifications.models import Notification
from apps.notifications.selectors import notification_summary


class NotificationOut(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)
    type = serializers.CharField(source="kind", read_only=True)
    actor = UserOut(read_only=True)
    others_count = serializers.SerializerMethodField()
    post_id = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()
    read = serializers.SerializerMethodField()
    cursor = serializers.SerializerMethodField()
    updated_at = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "type",
            "actor",
            "actors_count",
            "others_count",
            "post_id",
            "text",
            "link",
            "summary",
            "read",
            "created_at",
            "updated_at",
            "cursor",
        ]

    def get_others_count(self, n: Notification) -> int:
        return max(n.actors_count - 1, 0)

    def get_post_id(self, n: Notification) -> str | None:
        return str(n.post_id) if n.post_id else None

    def get_summary(self, n: Notification) -> str:
        return notification_summary(n)

    def get_read(self, n: Notification) -> bool:
        return n.read_at is not None

    def get_cursor(self, n: Notification) -> str:
        return str(n.seq)

    def get_updated_at(self, n: Notification) -> str:
        from datetime import UTC, datetime

        from apps.core.ids import EPOCH_MS

        ms = (n.seq >> 22) + EPOCH_MS
        return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


class MarkReadIn(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=500
    )
