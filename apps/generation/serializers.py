from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from apps.generation.models import GenerationJob
from apps.media.serializers import AssetOut


class BackendField(serializers.CharField):
    """A backend's alias; the service refuses one that is not configured."""


class BackendFieldSchema(OpenApiSerializerFieldExtension):
    """The schema lists the configured backends (settings, so read when the schema is made)."""

    target_class = BackendField

    def map_serializer_field(self, auto_schema, direction):
        from apps.generation.backends.registry import backend_list

        return {"type": "string", "enum": sorted(b.alias for b in backend_list())}


class JobIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=GenerationJob.Kind.choices)
    prompt = serializers.CharField(max_length=2000, trim_whitespace=True)
    negative_prompt = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default=""
    )
    backend = BackendField(max_length=50, required=False)
    # Absent: 1:1, or the ratio of the picture named by ``variation_of``.
    aspect_ratio = serializers.ChoiceField(choices=["1:1", "16:9", "9:16", "4:5"], required=False)
    quality = serializers.ChoiceField(choices=["draft", "final"], required=False, default="final")
    # 1-4 images; 1-16 when quality is "draft" (an ideation grid). The service checks which.
    count = serializers.IntegerField(min_value=1, max_value=16, required=False, default=1)
    duration_s = serializers.IntegerField(min_value=1, max_value=20, required=False)
    seed = serializers.IntegerField(min_value=0, max_value=2**32 - 1, required=False)
    remix_of = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    # Usernames of the people depicted; each must consent (apps.consent).
    likeness = serializers.ListField(
        child=serializers.CharField(max_length=31), required=False, max_length=20
    )
    # Ideation: an image asset to start from (own, or in a post one may see and remix), and how
    # far to move from it: 0 the same picture (a draft's final), up to 1 (default 0.5).
    variation_of = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    variation_strength = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    # Image-to-video: a picture the clip starts from (same terms as variation_of), for backends
    # that can start a video from a picture (``can_start_from_image`` in /generation/backends).
    start_from = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)


class EditIn(serializers.Serializer):
    op = serializers.ChoiceField(choices=["trim", "stitch", "extend", "upscale"])
    assets = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=8
    )
    start_s = serializers.FloatField(min_value=0, max_value=3600, required=False)
    end_s = serializers.FloatField(min_value=0, max_value=3600, required=False)
    duration_s = serializers.FloatField(min_value=1, max_value=20, required=False)
    prompt = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    quality = serializers.ChoiceField(choices=["draft", "final"], required=False, default="final")


class JobOut(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)
    inputs = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    assets = serializers.SerializerMethodField()

    class Meta:
        model = GenerationJob
        fields = [
            "id",
            "kind",
            "op",
            "inputs",
            "status",
            "progress",
            "error",
            "assets",
            "prompt",
            "negative_prompt",
            "backend",
            "seed",
            "params",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_inputs(self, job: GenerationJob) -> list[str]:
        """The assets an edit worked on (its parents), in order."""
        if job.op == GenerationJob.Op.GENERATE:
            return []
        return [str(ji.asset_id) for ji in job.job_inputs.all()]

    def get_error(self, job: GenerationJob) -> str | None:
        return job.error or None

    def get_assets(self, job: GenerationJob) -> list[dict]:
        """The results so far (a draft grid shows each as it is ready), each with the ``seed``
        and variation ``steps`` that make exactly that picture again."""
        if job.status == GenerationJob.Status.QUEUED:
            return []
        from apps.generation.services import request_for

        # Result i is the i-th stored; assets taken back by a person they depict are gone from
        # the Library but keep their place.
        kept = [
            (index, asset)
            for index, asset in enumerate(job.assets.order_by("id"))
            if asset.removed_at is None
        ]
        out = [dict(d) for d in AssetOut([a for _, a in kept], many=True).data]
        if job.op == GenerationJob.Op.GENERATE and job.kind == GenerationJob.Kind.IMAGE:
            request = request_for(job)
            for (index, _), data in zip(kept, out, strict=True):
                seed, steps = request.picture(index)
                data["seed"] = seed
                data["variations"] = [list(step) for step in steps]
        return out


class BackendOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    model = serializers.CharField()
    version = serializers.CharField()
    kinds = serializers.ListField(child=serializers.CharField())
    max_duration_s = serializers.IntegerField()
    sizes = serializers.ListField(child=serializers.CharField())
    default = serializers.BooleanField()
    # Whether the backend makes finals and variations of a picture (``variation_of``).
    can_vary = serializers.BooleanField()
    description = serializers.CharField(required=False, default="")
    # Whether a video can start from a picture (``start_from``; clips can then be extended).
    can_start_from_image = serializers.BooleanField(required=False, default=False)
    # False while no job can run (no GPU server answers); ``unavailable_reason`` says why.
    available = serializers.BooleanField(required=False, default=True)
    unavailable_reason = serializers.CharField(required=False, allow_null=True, default=None)


class QuotaOut(serializers.Serializer):
    active_jobs = serializers.IntegerField()
    max_active_jobs = serializers.IntegerField()
    used_today = serializers.IntegerField()
    daily_budget = serializers.IntegerField()
