"""Reads for generation: the Library."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.core.exceptions import ApplicationError
from apps.generation.models import GenerationJob


def job_list(*, owner: User, status: str | None = None) -> QuerySet[GenerationJob]:
    # A job whose results a person depicted took back has left the Library (apps.consent).
    jobs = (
        GenerationJob.objects.filter(owner=owner)
        .exclude(assets__removed_at__isnull=False)
        .prefetch_related("assets")
    )
    if status:
        if status not in GenerationJob.Status.values:
            raise ApplicationError(
                "invalid",
                _("Some query parameters are not valid."),
                fields={"status": [f"Choose from {', '.join(GenerationJob.Status.values)}."]},
            )
        jobs = jobs.filter(status=status)
    return jobs


def job_get(*, owner: User, job_id: int) -> GenerationJob:
    """A job of the owner's; someone else's answers exactly like a missing one."""
    job = (
        GenerationJob.objects.filter(id=job_id, owner=owner)
        .exclude(assets__removed_at__isnull=False)
        .prefetch_related("assets")
        .first()
    )
    if job is None:
        raise ApplicationError("not_found", _("Not found."))
    return job
