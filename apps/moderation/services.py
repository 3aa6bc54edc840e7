"""Writes of the prompt policy: the protected list, holds, and the checks that raise."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from apps.accounts.models import User
from apps.core.exceptions import ApplicationError
from apps.moderation import policy
from apps.moderation.models import PolicyHold, ProtectedTerm

ACTIONS = tuple(ProtectedTerm.Action.values)


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(
        "invalid", gettext_lazy("Some fields are not valid."), fields={field: [message]}
    )


def term_add(
    *, term: str, action: str, note: str | None = None, created_by: User | None = None
) -> tuple[ProtectedTerm, bool]:
    """Add a protected term, or change the action (and the note, unless None) of the one
    already listed.

    Returns ``(term, created)``. Two spellings that normalise alike ("Tàylor", "taylor") are one
    entry.
    """
    term = " ".join(term.split())
    normalized = policy.normalize_term(term)
    if not normalized:
        raise _invalid("term", "A term needs at least one letter or digit.")
    if len(term) > 200 or len(normalized) > 200:
        raise _invalid("term", "At most 200 characters.")
    if action not in ACTIONS:
        raise _invalid("action", f"Choose from {', '.join(ACTIONS)}.")
    try:
        with transaction.atomic():
            row, created = ProtectedTerm.objects.update_or_create(
                normalized=normalized,
                defaults={
                    "term": term,
                    "action": action,
                    **({"note": note[:500]} if note is not None else {}),
                },
                create_defaults={
                    "term": term,
                    "action": action,
                    "note": (note or "")[:500],
                    "created_by": created_by,
                },
            )
            if created_by is not None:  # a moderator, not an operator's command
                from apps.moderation.audit import audit_record

                audit_record(
                    actor=created_by,
                    action="protected_term.add" if created else "protected_term.change",
                    target_type="term",
                    target_id=row.id,
                    after={"term": row.term, "action": row.action},
                )
            transaction.on_commit(policy.index_invalidate)
    except IntegrityError:  # the same term added concurrently: the other one won, update it
        return term_add(term=term, action=action, note=note, created_by=created_by)
    return row, created


def terms_load(*, lines: Iterable[str], created_by: User | None = None) -> dict[str, int]:
    """Add terms from lines of ``term`` or ``term<TAB or |>action[<TAB or |>note]``.

    Blank lines and lines starting with ``#`` are skipped; the action defaults to ``refuse``.
    One transaction: a bad line loads nothing and names its line number.
    """
    counts = {"added": 0, "updated": 0}
    with transaction.atomic():
        for number, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p.strip() for p in re.split(r"\t|\|", line)]
            term, action = parts[0], (parts[1] if len(parts) > 1 and parts[1] else "refuse")
            note = parts[2] if len(parts) > 2 else None
            try:
                _, created = term_add(
                    term=term, action=action.lower(), note=note, created_by=created_by
                )
            except ApplicationError as e:
                detail = "; ".join(m for msgs in (e.fields or {}).values() for m in msgs)
                raise _invalid("file", f"Line {number}: {detail or e.message}") from e
            counts["added" if created else "updated"] += 1
    return counts


def term_remove(*, term: str) -> None:
    """Remove a protected term, given in any spelling that normalises to it."""
    deleted, _ = ProtectedTerm.objects.filter(normalized=policy.normalize_term(term)).delete()
    if not deleted:
        raise ApplicationError("not_found", f"“{term}” is not on the list.")
    transaction.on_commit(policy.index_invalidate)


def term_remove_by_id(*, term_id: int, moderator: User) -> None:
    """A moderator removes a term (recorded in the audit log)."""
    from apps.moderation.audit import audit_record

    with transaction.atomic():
        row = ProtectedTerm.objects.select_for_update().filter(id=term_id).first()
        if row is None:
            raise ApplicationError("not_found", gettext_lazy("Not found."))
        audit_record(
            actor=moderator,
            action="protected_term.remove",
            target_type="term",
            target_id=row.id,
            before={"term": row.term, "action": row.action},
        )
        row.delete()
        transaction.on_commit(policy.index_invalidate)


def _violation(match: policy.Match) -> ApplicationError:
    label = "prompt" if match.field == "prompt" else "negative prompt"
    return ApplicationError(
        "policy_violation",
        f"The {label} names “{match.term}”, a protected name or mark.",
        fields={match.field: [f"“{match.term}” is a protected name or mark."]},
    )


def prompt_enforce(*, prompt: str, negative_prompt: str = "") -> list[str]:
    """Refuse a request whose prompt names a ``refuse`` term (422 ``policy_violation``, naming
    the term and the field); otherwise return the ``review`` terms it names (the caller holds
    the job with ``hold_create``)."""
    result = policy.prompt_check(prompt=prompt, negative_prompt=negative_prompt)
    if result.refused is not None:
        raise _violation(result.refused)
    return result.review_terms


def hold_create(*, job, terms: list[str]) -> PolicyHold:
    """Hold a job's results from publishing until a moderator clears it. Call inside the
    transaction that writes the job."""
    return PolicyHold.objects.create(job=job, terms=terms)


def hold_clear(*, hold_id: int, moderator: User) -> PolicyHold:
    """A moderator lets a held job's results be published (recorded in the audit log)."""
    from apps.moderation.audit import audit_record
    from apps.moderation.roles import is_moderator

    if not is_moderator(moderator):
        raise ApplicationError("not_found", gettext_lazy("Not found."))
    with transaction.atomic():
        hold = PolicyHold.objects.select_for_update().filter(id=hold_id).first()
        if hold is None:
            raise ApplicationError("not_found", gettext_lazy("Not found."))
        if hold.cleared_at is None:
            hold.cleared_at = timezone.now()
            hold.cleared_by = moderator
            hold.save(update_fields=["cleared_at", "cleared_by"])
            audit_record(
                actor=moderator,
                action="policy_hold.clear",
                target_type="job",
                target_id=hold.job_id,
                before={"terms": hold.terms, "cleared": False},
                after={"terms": hold.terms, "cleared": True},
            )
    return hold


def _source_jobs(job) -> list:
    """The job and every job whose results it was made from (edits of edits), oldest last."""
    from apps.generation.models import GenerationJob, JobInput

    seen = {job.id: job}
    frontier = [job.id]
    while frontier:
        parents = set(
            JobInput.objects.filter(job_id__in=frontier, asset__job_id__isnull=False).values_list(
                "asset__job_id", flat=True
            )
        ) - set(seen)
        frontier = list(parents)
        for parent in GenerationJob.objects.filter(id__in=frontier):
            seen[parent.id] = parent
    return list(seen.values())


def publish_check(*, asset) -> None:
    """Refuse to publish what a prompt policy keeps back (422 ``policy_violation``).

    - the asset's job, or any job it was edited from, has a hold not yet cleared;
    - its prompt names a term refused now (the list may have grown since it was made);
    - its prompt names a term now under review that no moderator has cleared for it (on this
      job or one it was made from: an upscale keeps its source's prompt): the job gets a hold
      (kept even though publishing is refused) and waits like any other.
    """
    from apps.moderation.blocklist import blocklist_check

    blocklist_check(asset=asset)  # a copy of media the moderators removed
    job = getattr(asset, "job", None)
    if job is None:
        return
    jobs = _source_jobs(job)
    holds = {h.job_id: h for h in PolicyHold.objects.filter(job_id__in=[j.id for j in jobs])}
    if any(h.cleared_at is None for h in holds.values()):
        raise _held()
    result = policy.prompt_check(prompt=job.prompt, negative_prompt=job.negative_prompt)
    if result.refused is not None:
        raise ApplicationError(
            "policy_violation",
            f"Its prompt names “{result.refused.term}”, a protected name or mark.",
            fields={"asset_id": [f"“{result.refused.term}” is a protected name or mark."]},
        )
    cleared_terms = {term for h in holds.values() for term in h.terms}
    waiting = [term for term in result.review_terms if term not in cleared_terms]
    if waiting:
        hold, created = PolicyHold.objects.get_or_create(job=job, defaults={"terms": waiting})
        if not created:  # cleared for other terms before: it waits again, for all of them
            hold.terms = list(dict.fromkeys([*hold.terms, *waiting]))
            hold.cleared_at, hold.cleared_by = None, None
            hold.save(update_fields=["terms", "cleared_at", "cleared_by"])
        raise _held()


def publish_precheck(*, author: User, asset_id: int) -> None:
    """``publish_check`` outside any transaction, for callers that wrap publishing in one
    (the API's Idempotency-Key handling): a hold opened for a newly listed review term must
    outlive the refused request's rollback, or no moderator would ever see it."""
    from apps.media.models import Asset

    asset = Asset.objects.filter(id=asset_id, owner=author).select_related("job").first()
    if asset is not None:  # someone else's or a missing asset: the service answers 404
        publish_check(asset=asset)


def _held() -> ApplicationError:
    return ApplicationError(
        "policy_violation",
        gettext_lazy(
            "This result is held for review: its prompt names a protected name or mark, and a "
            "moderator has not cleared it yet."
        ),
        fields={"asset_id": ["Held for review."]},
    )
