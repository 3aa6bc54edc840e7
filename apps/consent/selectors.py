"""Reads of consent: who may use a person's likeness, the uses made of it, the event log.

The consent rule lives in one place (``likeness_grants``) and every check calls it: when a job
is requested, when it runs, when its result is published, and when a change of mind takes down
what it no longer covers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from apps.accounts.models import User
from apps.consent.models import ConsentEvent, ConsentSettings, LikenessApproval, LikenessUse
from apps.core.pagination import Page, PageParams, paginate

Policy = ConsentSettings.Policy


@dataclass(frozen=True)
class Grant:
    """A person named in a generation and the event whose consent allows it (None: never)."""

    person: User
    event_id: int | None

    @property
    def allowed(self) -> bool:
        return self.event_id is not None


def consent_settings(*, user: User) -> ConsentSettings:
    """The person's current choices; the defaults (nobody, no training) when never set."""
    found = ConsentSettings.objects.filter(user_id=user.pk).first()
    return found or ConsentSettings(user_id=user.pk)


def likeness_approved(*, user: User) -> list[str]:
    """Usernames on the person's approved list, alphabetically."""
    return sorted(
        LikenessApproval.objects.filter(owner_id=user.pk).values_list(
            "approved__username", flat=True
        ),
        key=str.lower,
    )


def likeness_grants(*, person: User, requester_ids: Iterable[int]) -> dict[int, int | None]:
    """For each requester, the consent event that lets them generate with ``person``'s
    likeness now, or None. Four reads at most, whatever the number of requesters.

    The rule: nobody with a block between them, ever; under "nobody", nobody; the approved list
    under "approved", "followers" and "everyone"; followers (accepted follows) under
    "followers"; anyone under "everyone". Oneself is not asked here: a person always may use
    their own likeness (callers leave them out).
    """
    from apps.social.models import Block, Follow

    requesters = {int(r) for r in requester_ids} - {person.pk}
    out: dict[int, int | None] = dict.fromkeys(requesters)
    if not requesters or not person.is_active:
        return out
    state = consent_settings(user=person)
    if state.likeness_policy == Policy.NOBODY:
        return out
    blocked = set()
    for a, b in Block.objects.filter(
        Q(blocker_id=person.pk, blocked_id__in=requesters)
        | Q(blocked_id=person.pk, blocker_id__in=requesters)
    ).values_list("blocker_id", "blocked_id"):
        blocked.add(b if a == person.pk else a)
    approvals = dict(
        LikenessApproval.objects.filter(
            owner_id=person.pk, approved_id__in=requesters - blocked
        ).values_list("approved_id", "event_id")
    )
    followers: set[int] = set()
    if state.likeness_policy == Policy.FOLLOWERS:
        followers = set(
            Follow.objects.filter(
                followee_id=person.pk, follower_id__in=requesters - blocked
            ).values_list("follower_id", flat=True)
        )
    for requester in requesters - blocked:
        if requester in approvals:
            out[requester] = approvals[requester]
        elif state.likeness_policy == Policy.EVERYONE or requester in followers:
            out[requester] = state.likeness_policy_event_id
    return out


def likeness_grant(*, person: User, requester: User) -> Grant:
    return Grant(person, likeness_grants(person=person, requester_ids=[requester.pk])[requester.pk])


def likeness_consent_event_ids(*, job) -> list[int]:
    """The consent events a generation relied on (for its provenance record), oldest first.

    Uses its depicted people have since removed are left out: such a job never stores results.
    """
    return sorted(
        LikenessUse.objects.filter(
            job_id=job.pk, status=LikenessUse.Status.ACTIVE, consent_event__isnull=False
        ).values_list("consent_event_id", flat=True)
    )


def likeness_uses(*, person: User, params: PageParams) -> Page:
    """Every generation that named the person, newest first, drafts in others' Libraries
    included, each with its job, requester and whether a post of it is up now."""
    from apps.posts.models import Post

    live_post = Post.objects.filter(asset__job_id=OuterRef("job_id"), removed_at__isnull=True)
    rows = (
        LikenessUse.objects.filter(person_id=person.pk)
        .select_related("job", "requester")
        .annotate(published=Exists(live_post))
    )
    return paginate(rows, params)


def likeness_uses_for_jobs(*, job_ids: Iterable[int]) -> QuerySet[LikenessUse]:
    """The uses still active on these jobs (an edit inherits the people its inputs depict)."""
    return LikenessUse.objects.filter(
        job_id__in=list(job_ids), status=LikenessUse.Status.ACTIVE
    ).select_related("person")


def consent_events(*, user: User, params: PageParams) -> Page:
    """The person's consent log, newest first."""
    return paginate(ConsentEvent.objects.filter(user_id=user.pk), params)


def training_default_allowed(*, user: User) -> bool:
    return consent_settings(user=user).training_default_allowed


def training_export_posts() -> QuerySet:
    """Posts whose original may go into a training set, oldest first. Each of these must hold:

    - public, by a public, active account, not taken down, its asset not taken down;
    - ``training_use`` on, and no later "no" from its author: an account default turned off
      after the post was published withdraws it (the newest decision wins);
    - it depicts nobody but its author (a likeness consent covers generation, not training);
    - a remix only while every ancestor still present passes the training checks too (checked
      by the caller, ``apps.consent.export``, which walks the family).
    """
    from django.db.models import F

    from apps.posts.models import Post

    later_no = ConsentSettings.objects.filter(
        user_id=OuterRef("author_id"),
        training_default_allowed=False,
        training_default_event__created_at__gt=OuterRef("created_at"),
    )
    others_likeness = LikenessUse.objects.filter(
        job_id=OuterRef("asset__job_id"), status=LikenessUse.Status.ACTIVE
    ).exclude(person_id=F("requester_id"))
    return (
        Post.objects.filter(
            visibility=Post.Visibility.PUBLIC,
            removed_at__isnull=True,
            training_use=True,
            author__is_private=False,
            author__is_active=True,
            asset__removed_at__isnull=True,
        )
        .exclude(Exists(later_no))
        .exclude(Exists(others_likeness))
        .select_related("author", "asset", "asset__job")
        .order_by("id")
    )


def training_consent_holds(*, post) -> bool:
    """Whether a single post (e.g. a remix's parent) still allows training use, by the same
    rules as ``training_export_posts`` except visibility (a parent's file is not exported)."""
    from apps.posts.models import Post

    later_no = ConsentSettings.objects.filter(
        user_id=post.author_id,
        training_default_allowed=False,
        training_default_event__created_at__gt=post.created_at,
    )
    return (
        Post.objects.filter(
            id=post.id, removed_at__isnull=True, training_use=True, author__is_active=True
        ).exists()
        and not later_no.exists()
    )


def consent_flags_open() -> QuerySet:
    """Take-downs for the moderation queue, newest first (moderation reads them here)."""
    from apps.consent.models import ConsentFlag

    return (
        ConsentFlag.objects.filter(resolved_at__isnull=True)
        .select_related("post", "post__author", "person")
        .order_by("-id")
    )


def likeness_state_for_post(*, post) -> list[dict]:
    """The consent side of a case: each person the post depicts, the use and the consent event
    it relied on, and whether the author is allowed now."""
    job_id = post.asset.job_id if post.asset_id else None
    if not job_id:
        return []
    uses = list(LikenessUse.objects.filter(job_id=job_id).select_related("person"))
    out = []
    for use in uses:
        now = likeness_grants(person=use.person, requester_ids=[post.author_id])[post.author_id]
        out.append(
            {
                "person": use.person.username,
                "use_status": use.status,
                "consent_event_id": use.consent_event_id,
                "allowed_now": now is not None,
                "consent_event_now": now,
            }
        )
    return out
