"""Generation API: backends, jobs (the Library), cancel."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import validated
from apps.core.pagination import PageParams, paginate
from apps.generation import selectors, services
from apps.generation.backends.registry import backend_list
from apps.generation.serializers import BackendOut, JobIn, JobOut


class BackendsApi(APIView):
    @extend_schema(responses={200: BackendOut(many=True)}, operation_id="generation_backends_list")
    def get(self, request):
        default = settings.GENERATION_DEFAULT_BACKEND
        return Response([{**b.describe(), "default": b.alias == default} for b in backend_list()])


class JobsApi(APIView):
    @extend_schema(responses={200: JobOut(many=True)}, operation_id="generations_list")
    def get(self, request):
        params = PageParams.from_query(request.query_params)
        jobs = selectors.job_list(owner=request.user, status=request.query_params.get("status"))
        page = paginate(jobs, params)
        items = [{**JobOut(j).data, "cursor": str(j.id)} for j in page.items]
        return Response({"items": items, "next_cursor": page.next_cursor})

    @extend_schema(request=JobIn, responses={202: JobOut}, operation_id="generations_create")
    def post(self, request):
        data = validated(JobIn, request.data)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 1 <= len(key) <= 200:
            return Response(
                {"error": {"code": "invalid", "message": "Idempotency-Key: 1 to 200 characters."}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        job = services.job_request(owner=request.user, idempotency_key=key, **data)
        return Response(JobOut(job).data, status=status.HTTP_202_ACCEPTED)


class JobDetailApi(APIView):
    @extend_schema(responses={200: JobOut}, operation_id="generations_get")
    def get(self, request, job_id: int):
        return Response(JobOut(selectors.job_get(owner=request.user, job_id=job_id)).data)


class JobCancelApi(APIView):
    @extend_schema(request=None, responses={200: JobOut}, operation_id="generations_cancel")
    def post(self, request, job_id: int):
        job = services.job_cancel(owner=request.user, job_id=job_id)
        return Response(JobOut(job).data)
