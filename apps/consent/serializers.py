from rest_framework import serializers

from apps.consent.models import ConsentEvent, ConsentSettings, LikenessUse


class LikenessIn(serializers.Serializer):
    policy = serializers.ChoiceField(choices=ConsentSettings.Policy.choices, required=False)
    approved = serializers.ListField(
        child=serializers.CharField(max_length=31), required=False, max_length=1000
    )


class LikenessOut(serializers.Serializer):
    policy = serializers.ChoiceField(choices=ConsentSettings.Policy.choices)
    approved = serializers.ListField(child=serializers.CharField())


class TrainingIn(serializers.Serializer):
    default_allowed = serializers.BooleanField()


class TrainingOut(serializers.Serializer):
    default_allowed = serializers.BooleanField()


class LikenessUseOut(serializers.ModelSerializer):
    """One generation that named me: whose, when, what became of it. No prompt: it is the
    requester's (and may be hidden)."""

    job_id = serializers.CharField(read_only=True)
    requester = serializers.CharField(source="requester.username", read_only=True)
    kind = serializers.CharField(source="job.kind", read_only=True)
    job_status = serializers.CharField(source="job.status", read_only=True)
    published = serializers.BooleanField(read_only=True)
    cursor = serializers.SerializerMethodField()

    class Meta:
        model = LikenessUse
        fields = [
            "job_id",
            "requester",
            "kind",
            "created_at",
            "status",
            "job_status",
            "published",
            "removed_at",
            "cursor",
        ]

    def get_cursor(self, use: LikenessUse) -> str:
        return str(use.id)


class ConsentEventOut(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)
    hash = serializers.CharField(source="record_hash", read_only=True)

    class Meta:
        model = ConsentEvent
        fields = ["id", "kind", "scope", "value", "created_at", "prev_hash", "hash"]
