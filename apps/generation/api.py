"""Generation API: backends, jobs (the Library), cancel."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import idempotency
from apps.core.api import validated
from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams, paginate
from apps.core.schema import KeysetPagination, errors
from apps.generation import selectors, services
from apps.generation.backends.registry import backend_list
from apps.generation.models import GenerationJob
from apps.generation.quotas import quota_usage
from apps.generation.serializers import BackendOut, EditIn, JobIn, JobOut, QuotaOut


class BackendsApi(APIView):
    @extend_schema(responses={200: BackendOut(many=True)}, operation_id="generation_backends_list")
    def get(self, request):
        default = settings.GENERATION_DEFAULT_BACKEND
        return Response([{**b.describe(), "default": b.alias == default} for b in backend_list()])


class JobsApi(APIView):
    pagination_class = KeysetPagination  # schema only: pages through PageParams

    @extend_schema(
        parameters=[
            # Empty is the same as absent: every status.
            OpenApiParameter("status", str, enum=["", *GenerationJob.Status.values], required=False)
        ],
        responses={200: JobOut(many=True)},
        operation_id="generations_list",
    )
    def get(self, request):
        params = PageParams.from_query(request.query_params)
        jobs = selectors.job_list(owner=request.user, status=request.query_params.get("status"))
        page = paginate(jobs, params)
        items = [{**JobOut(j).data, "cursor": str(j.id)} for j in page.items]
        return Response({"items": items, "next_cursor": page.next_cursor})

    # 404: remix_of or a likeness username not found; 409: the Idempotency-Key is in flight;
    # 422: the prompt policy or a depicted person's consent refuses; 429: quotas.
    @extend_schema(
        request=JobIn,
        responses={202: JobOut, **errors(404, 409, 422, 503)},
        parameters=[idempotency.IDEMPOTENCY_KEY_HEADER],
        operation_id="generations_create",
    )
    def post(self, request):
        data = validated(JobIn, request.data)
        job = services.job_request(
            owner=request.user, idempotency_key=idempotency_key(request), **data
        )
        return Response(JobOut(job).data, status=status.HTTP_202_ACCEPTED)


def idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 200:
        raise ApplicationError(
            "invalid",
            _("Idempotency-Key must be 1 to 200 characters."),
            fields={"Idempotency-Key": ["1 to 200 characters."]},
        )
    return key


class EditsApi(APIView):
    @extend_schema(
        request=EditIn,
        responses={202: JobOut, **errors(404, 409, 422)},
        parameters=[idempotency.IDEMPOTENCY_KEY_HEADER],
        operation_id="edits_create",
    )
    def post(self, request):
        data = validated(EditIn, request.data)
        job = services.edit_request(
            owner=request.user, idempotency_key=idempotency_key(request), **data
        )
        return Response(JobOut(job).data, status=status.HTTP_202_ACCEPTED)


class QuotaApi(APIView):
    @extend_schema(responses={200: QuotaOut}, operation_id="generation_quota")
    def get(self, request):
        return Response(quota_usage(user_id=request.user.pk))


class JobDetailApi(APIView):
    @extend_schema(responses={200: JobOut}, operation_id="generations_get")
    def get(self, request, job_id: int):
        return Response(JobOut(selectors.job_get(owner=request.user, job_id=job_id)).data)


class JobCancelApi(APIView):
    @extend_schema(
        request=None, responses={200: JobOut, **errors(409)}, operation_id="generations_cancel"
    )
    def post(self, request, job_id: int):
        job = services.job_cancel(owner=request.user, job_id=job_id)
        return Response(JobOut(job).data)
