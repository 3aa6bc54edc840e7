from rest_framework import serializers

from apps.accounts.serializers import UserOut
from apps.moderation.models import PolicyHold, ProtectedTerm


class TermIn(serializers.Serializer):
    term = serializers.CharField(max_length=200)
    action = serializers.ChoiceField(choices=ProtectedTerm.Action.choices)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)


class TermOut(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)

    class Meta:
        model = ProtectedTerm
        fields = ["id", "term", "normalized", "action", "note", "created_at"]


class HoldOut(serializers.ModelSerializer):
    """A hold as moderators see it: the job's prompt included (moderators may read hidden
    prompts; nobody else reaches this)."""

    id = serializers.CharField(read_only=True)
    job_id = serializers.CharField(read_only=True)
    owner = UserOut(source="job.owner", read_only=True)
    prompt = serializers.CharField(source="job.prompt", read_only=True)
    negative_prompt = serializers.CharField(source="job.negative_prompt", read_only=True)
    cleared_by = serializers.SerializerMethodField()

    class Meta:
        model = PolicyHold
        fields = [
            "id",
            "job_id",
            "owner",
            "terms",
            "prompt",
            "negative_prompt",
            "created_at",
            "cleared_by",
            "cleared_at",
        ]

    def get_cleared_by(self, hold: PolicyHold) -> str | None:
        return hold.cleared_by.username if hold.cleared_by_id else None
