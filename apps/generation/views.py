"""The Create page. Generation itself goes through the API from the page's script."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from apps.generation.backends.registry import backend_list
from apps.generation.selectors import job_list


@login_required
def create(request):
    recent = job_list(owner=request.user).filter(status="succeeded").order_by("-id")[:12]
    return render(
        request,
        "generation/create.html",
        {
            "backends": backend_list(),
            "default_backend": settings.GENERATION_DEFAULT_BACKEND,
            "recent": recent,
            "prompt_max": settings.GENERATION_PROMPT_MAX_CHARS,
        },
    )
