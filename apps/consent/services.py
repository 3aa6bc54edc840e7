"""Writes of consent: changing one's mind, and the checks other services make before they act.

Every change of a person's choices appends a signed ``ConsentEvent`` in the same transaction as
the change to the current state, under a lock on the person's ``ConsentSettings`` row. The same
lock is taken by a publish that relies on the person's consent, so a revocation and a publish
never cross: either the post commits first and the revocation takes it down, or the revocation
commits first and the publish is refused.

A revocation takes down the published posts it no longer covers inside its own transaction (up
to ``TAKEDOWN_INLINE`` of them; more go to a task on commit), so the posts leave every read path
the moment the change commits; ``post.deleted`` follows on the feed queue.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.consent import selectors
from apps.consent.models import (
    ConsentEvent,
    ConsentFlag,
    ConsentSettings,
    LikenessApproval,
    LikenessUse,
)
from apps.core import ledger, outbox
from apps.core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

Kind = ConsentEvent.Kind
Policy = ConsentSettings.Policy
# Posts taken down inside the revoking transaction; the rest in a task right after it.
TAKEDOWN_INLINE = 500
APPROVED_MAX = 1000


# --- the log ----------------------------------------------------------------------------------


def _event(*, user_id: int, kind: str, scope: str, value: dict[str, Any]) -> ConsentEvent:
    """Append one event to the person's chain (inside the caller's transaction)."""
    return ledger.append(
        ConsentEvent, chain=f"user:{user_id}", user_id=user_id, kind=kind, scope=scope, value=value
    )


def _settings_locked(user_id: int) -> ConsentSettings:
    """The person's settings row, created with the defaults if need be, locked until commit."""
    ConsentSettings.objects.get_or_create(user_id=user_id)
    return ConsentSettings.objects.select_for_update().get(user_id=user_id)


# --- likeness: the person's choices -----------------------------------------------------------


def likeness_consent_set(
    *, user: User, policy: str | None = None, approved: list[str] | None = None
) -> ConsentSettings:
    """Set who may generate with the user's likeness: the policy and/or the whole approved list.

    Only what changes is logged (a repeat PUT appends nothing). Whatever the change no longer
    covers is taken down at once: published posts of the user's likeness by people no longer
    allowed, each with a flag for moderation and a notice to its author.
    """
    if policy is not None and policy not in Policy.values:
        raise ApplicationError(
            "invalid",
            _("Some fields are not valid."),
            fields={"policy": [f"Choose from {', '.join(Policy.values)}."]},
        )
    wanted: dict[int, User] | None = None
    if approved is not None:
        wanted = _people_by_name(approved, exclude=user)
    with transaction.atomic():
        state = _settings_locked(user.pk)
        revoking: list[ConsentEvent] = []
        unapproved: dict[int, ConsentEvent] = {}  # the event that withdrew each person
        if policy is not None and policy != state.likeness_policy:
            event = _event(
                user_id=user.pk,
                kind=Kind.LIKENESS_POLICY,
                scope="likeness",
                value={"policy": policy},
            )
            narrower = _RANK[policy] < _RANK[state.likeness_policy]
            state.likeness_policy = policy
            state.likeness_policy_event = event
            state.save(update_fields=["likeness_policy", "likeness_policy_event", "updated_at"])
            if narrower:
                revoking.append(event)
        if wanted is not None:
            current = dict(
                LikenessApproval.objects.filter(owner=user).values_list("approved_id", "id")
            )
            for person_id, person in wanted.items():
                if person_id not in current:
                    event = _event(
                        user_id=user.pk,
                        kind=Kind.LIKENESS_APPROVE,
                        scope="likeness",
                        value={"user_id": str(person_id), "username": person.username},
                    )
                    LikenessApproval.objects.create(owner=user, approved=person, event=event)
            gone = [pid for pid in current if pid not in wanted]
            names = dict(User.objects.filter(id__in=gone).values_list("id", "username"))
            for person_id in gone:
                event = _event(
                    user_id=user.pk,
                    kind=Kind.LIKENESS_UNAPPROVE,
                    scope="likeness",
                    value={"user_id": str(person_id), "username": names.get(person_id, "")},
                )
                LikenessApproval.objects.filter(owner=user, approved_id=person_id).delete()
                revoking.append(event)
                unapproved[person_id] = event
        if revoking:
            remaining = likeness_takedown_lapsed(
                person=user, event=revoking[0], events_by_requester=unapproved
            )
            if remaining:
                from apps.consent.tasks import likeness_takedown

                outbox.send_on_commit(likeness_takedown, user.pk, revoking[0].id)
    return state


# Wider policies allow more people; moving to a lower rank can only withdraw consent.
_RANK = {Policy.NOBODY: 0, Policy.APPROVED: 1, Policy.FOLLOWERS: 2, Policy.EVERYONE: 3}


def _people_by_name(usernames: list[str], *, exclude: User) -> dict[int, User]:
    """Active people by username (case-insensitive); an unknown name is a 400 naming it."""
    names = {n.strip().lstrip("@").lower() for n in usernames if n and n.strip()}
    names.discard(exclude.username.lower())
    if len(names) > APPROVED_MAX:
        raise ApplicationError(
            "invalid",
            _("Some fields are not valid."),
            fields={"approved": [f"At most {APPROVED_MAX} people."]},
        )
    found = {u.username.lower(): u for u in _users_named(names)}
    missing = sorted(names - found.keys())
    if missing:
        raise ApplicationError(
            "invalid",
            _("Some fields are not valid."),
            fields={"approved": [f"No such person: {', '.join('@' + n for n in missing)}."]},
        )
    return {u.pk: u for u in found.values()}


def _users_named(names: Iterable[str]):
    query = Q()
    for name in names:
        query |= Q(username__iexact=name)
    if not query:
        return User.objects.none()
    return User.objects.filter(query, is_active=True)


# --- likeness: checks made by generation and posts ----------------------------------------------


def _refused(people: list[User]) -> ApplicationError:
    names = ", ".join(f"@{p.username}" for p in people)
    return ApplicationError(
        "consent_required",
        f"{names} {'has' if len(people) == 1 else 'have'} not given consent to the use of "
        f"{'their likeness' if len(people) == 1 else 'their likenesses'}.",
        fields={"likeness": [f"@{p.username} has not given consent." for p in people]},
    )


def likeness_check_request(
    *, requester: User, likeness: list[str] | None, prompt: str, inputs: Iterable[Any] = ()
) -> list[selectors.Grant]:
    """The people a requested generation names (``likeness`` and @mentions in the prompt) or
    an edit inherits from its inputs, each with the consent it relies on; 422
    ``consent_required`` naming everyone who has not given it. The requester is never asked.

    Names in ``likeness`` must exist (400 otherwise); an @mention of nobody is just text.
    """
    from apps.posts.text import mentions

    named = {n.strip().lstrip("@").lower() for n in likeness or [] if n and n.strip()}
    people = {u.username.lower(): u for u in _users_named(named | set(mentions(prompt)))}
    missing = sorted(named - people.keys())
    if missing:
        raise ApplicationError(
            "invalid",
            _("Some fields are not valid."),
            fields={"likeness": [f"No such person: {', '.join('@' + n for n in missing)}."]},
        )
    by_id = {u.pk: u for u in people.values()}
    input_jobs = {a.job_id for a in inputs if getattr(a, "job_id", None)}
    if input_jobs:
        for use in selectors.likeness_uses_for_jobs(job_ids=input_jobs):
            by_id.setdefault(use.person_id, use.person)
    by_id.pop(requester.pk, None)
    grants = []
    for person in by_id.values():
        grants.append(selectors.likeness_grant(person=person, requester=requester))
    refused = [g.person for g in grants if not g.allowed]
    if refused:
        raise _refused(sorted(refused, key=lambda p: p.username.lower()))
    return grants


def likeness_uses_record(*, job, grants: list[selectors.Grant]) -> None:
    """Record each use of a likeness by a new job and tell the person (inside the job's
    transaction). The person sees it in their uses list, drafts included."""
    if not grants:
        return
    from apps.notifications import services as notifications

    LikenessUse.objects.bulk_create(
        [
            LikenessUse(
                job_id=job.pk,
                person=g.person,
                requester_id=job.owner_id,
                consent_event_id=g.event_id,
            )
            for g in grants
        ]
    )
    for g in grants:
        notifications.notification_add(recipient=g.person, actor=job.owner, kind="likeness_used")


def likeness_refusal(*, job) -> str | None:
    """Why a job may not run or store its results now (a person withdrew consent or removed
    the use while it was queued or rendering), or None. Written for the creator to read."""
    uses = list(LikenessUse.objects.filter(job_id=job.pk).select_related("person"))
    if not uses:
        return None
    owner = User.objects.get(pk=job.owner_id)
    refused = [u.person for u in uses if u.status == LikenessUse.Status.REMOVED]
    for use in uses:
        if use.status == LikenessUse.Status.ACTIVE:
            grant = selectors.likeness_grant(person=use.person, requester=owner)
            if not grant.allowed:
                refused.append(use.person)
    if not refused:
        return None
    return f"consent_required: {_refused(refused).message}"


def post_published(*, post) -> None:
    """The consent side of publishing (inside the publishing transaction, after the row).

    Re-checks every likeness the asset depicts, holding each person's consent row until commit
    so a revocation cannot slip between the check and the post (422 ``consent_required`` names
    who refused); tells each person their likeness was published; logs a training opt-in.
    """
    job_id = post.asset.job_id
    uses = list(selectors.likeness_uses_for_jobs(job_ids=[job_id])) if job_id else []
    people = sorted((u.person for u in uses if u.person_id != post.author_id), key=lambda p: p.pk)
    if people:
        for person in people:  # in id order: two publishes never wait on each other in a cycle
            ConsentSettings.objects.select_for_update().filter(user_id=person.pk).first()
        grants = selectors.likeness_grants
        refused = [
            p
            for p in people
            if grants(person=p, requester_ids=[post.author_id])[post.author_id] is None
        ]
        if refused:
            raise _refused(refused)
        from apps.notifications import services as notifications

        for person in people:
            notifications.notification_add(
                recipient=person, actor=post.author, kind="likeness_used", post=post
            )
    if post.training_use:
        _event(
            user_id=post.author_id,
            kind=Kind.TRAINING_POST,
            scope=f"post:{post.id}",
            value={"training_use": True},
        )


# --- likeness: taking things down -------------------------------------------------------------


def likeness_takedown_lapsed(
    *,
    person: User,
    event: ConsentEvent | None,
    events_by_requester: dict[int, ConsentEvent] | None = None,
    limit: int = TAKEDOWN_INLINE,
) -> int:
    """Take down published posts of ``person``'s likeness whose author the current consent no
    longer covers; returns how many such posts remain beyond ``limit`` (0: all done). Each
    flag names the event that withdrew the consent: the author's own un-approval when there is
    one in ``events_by_requester``, else ``event``.

    Reads the consent as it is now, not as the event says, so it is idempotent and safe to run
    again or late (a consent given back in between leaves posts up).
    """
    from apps.posts.models import Post

    requesters = set(
        LikenessUse.objects.filter(person=person, status=LikenessUse.Status.ACTIVE)
        .exclude(requester_id=person.pk)
        .values_list("requester_id", flat=True)
        .distinct()
    )
    if not requesters:
        return 0
    grants = selectors.likeness_grants(person=person, requester_ids=requesters)
    lapsed = [r for r, event_id in grants.items() if event_id is None]
    if not lapsed:
        return 0
    posts = (
        Post.objects.filter(
            removed_at__isnull=True,
            author_id__in=lapsed,
            asset__job__likeness_uses__person=person,
            asset__job__likeness_uses__status=LikenessUse.Status.ACTIVE,
        )
        .select_related("author")
        .order_by("id")
    )
    batch = list(posts[: limit + 1])
    _take_down(
        batch[:limit],
        person=person,
        reason=ConsentFlag.Reason.CONSENT_WITHDRAWN,
        event=event,
        events_by_author=events_by_requester,
    )
    return max(len(batch) - limit, 0)


def likeness_takedown_run(*, person_id: int, event_id: int | None) -> None:
    """The task's side of a large revocation: batches until nothing it covers is left up."""
    person = User.objects.filter(pk=person_id).first()
    event = ConsentEvent.objects.filter(pk=event_id).first() if event_id else None
    if person is None:
        return
    while True:
        with transaction.atomic():
            _settings_locked(person.pk)
            if not likeness_takedown_lapsed(person=person, event=event):
                return


def likeness_block_applied(*, blocker: User, blocked: User) -> None:
    """A block ends any likeness consent between the two (``likeness_grants``): what either
    published of the other's likeness is taken down and flagged, as a revocation would.

    Called by ``social.services.block_create`` inside its transaction.
    """
    from apps.consent.tasks import likeness_takedown

    for person in sorted((blocker, blocked), key=lambda u: u.pk):  # one lock order
        if not LikenessUse.objects.filter(person=person, status=LikenessUse.Status.ACTIVE).exists():
            continue
        _settings_locked(person.pk)
        if likeness_takedown_lapsed(person=person, event=None):
            outbox.send_on_commit(likeness_takedown, person.pk, None)


def _take_down(
    posts: list,
    *,
    person: User,
    reason: str,
    event: ConsentEvent | None,
    events_by_author: dict[int, ConsentEvent] | None = None,
) -> None:
    """Take posts down (the visibility rule then hides them from every read path), open a flag
    for each, tell each author once, and send ``post.deleted`` after commit to every socket
    that could have shown them (one task for the whole batch)."""
    if not posts:
        return
    from apps.consent.tasks import announce_taken_down
    from apps.notifications import services as notifications
    from apps.posts.models import Post

    now = timezone.now()
    Post.objects.filter(id__in=[p.id for p in posts], removed_at__isnull=True).update(
        removed_at=now, removed_reason=reason
    )
    by_author_event = events_by_author or {}
    ConsentFlag.objects.bulk_create(
        [
            ConsentFlag(
                post_id=p.id,
                person=person,
                reason=reason,
                event=by_author_event.get(p.author_id, event),
            )
            for p in posts
        ],
        ignore_conflicts=True,
    )
    by_author: dict[int, list] = {}
    for post in posts:
        by_author.setdefault(post.author_id, []).append(post)
    for mine in by_author.values():
        one = len(mine) == 1
        notifications.notification_add(
            recipient=mine[0].author,
            actor=person,
            kind="likeness_removed",
            post=mine[0] if one else None,
            text=f"{'A post' if one else f'{len(mine)} posts'} of yours taken down.",
        )
    outbox.send_on_commit(
        announce_taken_down, [[str(p.id), str(p.author_id), p.visibility] for p in posts]
    )
    logger.info("took down %d posts of @%s's likeness (%s)", len(posts), person.username, reason)


def likeness_use_remove(*, person: User, job_id: int) -> LikenessUse:
    """The person depicted takes back one use of their likeness.

    The job's results (and edits made from them) leave the requester's Library, any post of
    them is taken down and flagged, the requester is told, and a job still queued or rendering
    fails when the worker checks. Removing a removed use changes nothing.
    """
    from apps.generation.models import JobInput
    from apps.media.models import Asset
    from apps.posts.models import Post

    with transaction.atomic():
        use = (
            LikenessUse.objects.select_for_update()
            .filter(person=person, job_id=job_id)
            .select_related("requester")
            .first()
        )
        if use is None:
            raise ApplicationError("not_found", _("Not found."))
        if use.status == LikenessUse.Status.REMOVED:
            return use
        event = _event(
            user_id=person.pk,
            kind=Kind.LIKENESS_USE_REMOVED,
            scope=f"job:{job_id}",
            value={"requester_id": str(use.requester_id), "username": use.requester.username},
        )
        # The job and every edit made from its results, however many steps removed.
        jobs = {use.job_id}
        frontier = {use.job_id}
        while frontier:
            frontier = (
                set(
                    JobInput.objects.filter(asset__job_id__in=frontier).values_list(
                        "job_id", flat=True
                    )
                )
                - jobs
            )
            jobs |= frontier
        now = timezone.now()
        LikenessUse.objects.filter(
            job_id__in=jobs, person=person, status=LikenessUse.Status.ACTIVE
        ).update(status=LikenessUse.Status.REMOVED, removed_at=now)
        Asset.objects.filter(job_id__in=jobs, removed_at__isnull=True).update(
            removed_at=now, removed_reason=ConsentFlag.Reason.USE_REMOVED
        )
        posts = list(
            Post.objects.filter(asset__job_id__in=jobs, removed_at__isnull=True).select_related(
                "author"
            )
        )
        _take_down(posts, person=person, reason=ConsentFlag.Reason.USE_REMOVED, event=event)
        if not posts:  # a draft: the notice stands on its own
            from apps.notifications import services as notifications

            notifications.notification_add(
                recipient=use.requester, actor=person, kind="likeness_removed"
            )
        use.status = LikenessUse.Status.REMOVED
        use.removed_at = now
    return use


# --- training -----------------------------------------------------------------------------------


def training_default_set(*, user: User, default_allowed: bool) -> ConsentSettings:
    """Set whether the user's new posts may be used for training unless they say otherwise.

    Turning it off also withdraws the posts opted in before (the newest decision wins:
    ``export_training_set`` leaves out posts older than a later "no").
    """
    with transaction.atomic():
        state = _settings_locked(user.pk)
        if (
            state.training_default_allowed != default_allowed
            or state.training_default_event_id is None
        ):
            state.training_default_event = _event(
                user_id=user.pk,
                kind=Kind.TRAINING_DEFAULT,
                scope="training",
                value={"default_allowed": bool(default_allowed)},
            )
            state.training_default_allowed = bool(default_allowed)
            state.save(
                update_fields=["training_default_allowed", "training_default_event", "updated_at"]
            )
    return state


def training_use_for_post(*, author: User, requested: bool | None, parent=None) -> bool:
    """A new post's ``training_use``: what the author asked for, else their account default;
    a remix never allows more than its parent does (the stricter of the two)."""
    allowed = (
        selectors.training_default_allowed(user=author) if requested is None else bool(requested)
    )
    if parent is not None and not parent.training_use:
        return False
    return allowed
