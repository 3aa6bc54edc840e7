"""Moderators' decisions, each taking effect everywhere at once.

An action is one service call that, in one transaction: checks the moderator may act (never on
their own content or a case about themselves), changes the target (a post or comment taken down
is hidden by the one visibility rule from feeds, API, pages, media URLs and search alike), records
the ``ModerationAction`` and its ``AuditEntry`` (before and after), closes or keeps the case,
settles the reports, and queues what must follow the commit: ``post.deleted`` to every socket
that could show the post (through the outbox), a notice to the author saying what happened and
why, the outcome to each reporter, and the updated case to moderators' sockets.

Strikes expire; ``MODERATION_STRIKES_TO_SUSPEND`` active strikes suspend the person. A suspension
ends their sessions, tokens' use and sockets (``accounts.services.user_suspend``) and hides their
posts (the visibility rule shows only active authors' posts); lifting it brings them back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core import outbox
from apps.core.exceptions import ApplicationError
from apps.core.ids import new_id
from apps.moderation import cases
from apps.moderation.audit import audit_record
from apps.moderation.models import (
    Case,
    MediaBlock,
    ModerationAction,
    Reason,
    Report,
    Strike,
    Suspension,
    Target,
)

Kind = ModerationAction.Kind
ACTIONS = [
    Kind.DISMISS,
    Kind.HIDE,
    Kind.REMOVE,
    Kind.MARK_SENSITIVE,
    Kind.WARN,
    Kind.STRIKE,
    Kind.SUSPEND,
    Kind.UNSUSPEND,
]
# Actions that act against the target: its reports are "upheld" when the case closes with one.
AGAINST = {Kind.REMOVE, Kind.HIDE, Kind.MARK_SENSITIVE, Kind.WARN, Kind.STRIKE, Kind.SUSPEND}
# Actions on content, which need a post or comment as the target.
ON_CONTENT = {Kind.HIDE, Kind.REMOVE, Kind.MARK_SENSITIVE}

# What the author is told, by reason; a moderator's note is added when given.
REASON_TEXT = {
    Reason.SEXUAL: "sexual content that breaks the rules",
    Reason.VIOLENCE: "violent content that breaks the rules",
    Reason.HARASSMENT: "harassment",
    Reason.LIKENESS: "use of someone's likeness without their consent",
    Reason.IP: "use of protected names, marks or someone else's work",
    Reason.SPAM: "spam",
    Reason.MINOR_SAFETY: "content that endangers minors",
    Reason.OTHER: "a breach of the rules",
}
MESSAGE_TEMPLATES = {
    Kind.HIDE: "Your {what} is hidden while the moderators review it, for {reason}.",
    Kind.REMOVE: "Your {what} was removed by the moderators for {reason}.",
    Kind.MARK_SENSITIVE: "Your {what} was marked sensitive by the moderators ({reason}).",
    Kind.WARN: "The moderators warn you about {reason}.",
    Kind.STRIKE: "You received a strike for {reason}; it expires on {until}.",
    Kind.SUSPEND: "Your account is suspended {until_text} for {reason}.",
    Kind.UNSUSPEND: "Your account's suspension was lifted.",
    Kind.RESTORE: "After your appeal, the moderators reversed their decision: your {what} is back.",
}
# Presets a moderator can pick on the action form: the text is added to the author's notice
# (after the template), so common explanations read the same every time.
MESSAGE_PRESETS = {
    "first_time": "This is a reminder of the rules; nothing else happens this time.",
    "repeat": "This happened before; further breaches will lead to a suspension.",
    "spam_wave": "Posting the same content many times is treated as spam.",
    "likeness": "Only publish people's likeness when they have given their consent on Vivid.",
    "minor_safety": "Content involving minors in this way is never allowed on Vivid.",
}
APPEAL_DAYS = 20


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def message_for(
    kind: str, *, reason_code: str, target_type: str, until: dt.datetime | None, note: str = ""
) -> str:
    """The author's notice for an action, from its template."""
    template = MESSAGE_TEMPLATES.get(kind)
    if template is None:
        return ""
    text = template.format(
        what={"post": "post", "comment": "comment"}.get(target_type, "content"),
        reason=REASON_TEXT.get(Reason(reason_code), reason_code) if reason_code else "",
        until=until.date().isoformat() if until else "",
        until_text=f"until {until.date().isoformat()}" if until else "for good",
    )
    if note:
        text += f" {note}"
    if kind not in (Kind.UNSUSPEND, Kind.RESTORE):
        text += f" You can appeal within {APPEAL_DAYS} days."
    return text


def _check(moderator, case: Case, kind: str, reason_code: str) -> None:
    if kind not in ACTIONS:
        raise ApplicationError(
            "invalid",
            _("Choose an action."),
            fields={"action": [f"Choose one of {', '.join(ACTIONS)}."]},
        )
    if reason_code not in cases.REASONS:
        raise ApplicationError(
            "invalid",
            _("Choose a reason code."),
            fields={"reason_code": [f"Choose one of {', '.join(cases.REASONS)}."]},
        )
    if case.subject_id == moderator.pk:
        raise ApplicationError(
            "forbidden", _("This case is about you or your content; another moderator decides it.")
        )
    if kind in ON_CONTENT and case.target_type == Target.USER:
        raise ApplicationError(
            "invalid",
            _("That action applies to a post or a comment."),
            fields={"action": ["Not for a person."]},
        )
    if case.status != Case.Status.OPEN and kind not in (Kind.UNSUSPEND,):
        raise ApplicationError("conflict", _("This case is already decided."))


def _target_state(case: Case) -> dict[str, Any]:
    """What the audit log keeps as "before" and "after" of the target."""
    from apps.accounts.models import User
    from apps.posts.models import Comment, Post

    if case.target_type == Target.POST:
        post = Post.objects.filter(id=case.target_id).values("removed_reason", "sensitive").first()
        return post or {}
    if case.target_type == Target.COMMENT:
        comment = Comment.objects.filter(id=case.target_id).values("removed_reason").first()
        return comment or {}
    user = User.objects.filter(id=case.target_id).values("is_active").first()
    return user or {}


def _take_down(case: Case, reason: str) -> None:
    from apps.posts.models import Comment, Post
    from apps.posts.tasks import fanout_post_deleted

    now = timezone.now()
    if case.target_type == Target.POST:
        post = Post.objects.filter(id=case.target_id).first()
        if post is None:
            return
        Post.objects.filter(id=post.id).update(removed_at=now, removed_reason=reason)
        outbox.send_on_commit(fanout_post_deleted, post.id, post.author_id, post.visibility)
    elif case.target_type == Target.COMMENT:
        Comment.objects.filter(id=case.target_id).update(removed_at=now, removed_reason=reason)


def _block_media(case: Case, action: ModerationAction) -> None:
    """Removed media joins the blocklist, so a re-encode or re-generation of it is caught when
    someone tries to publish it again."""
    from apps.posts.models import Post

    if case.target_type != Target.POST:
        return
    post = Post.objects.select_related("asset").filter(id=case.target_id).first()
    if post is None:
        return
    phash = post.asset.phash if _informative(post.asset) else ""
    MediaBlock.objects.create(
        asset=post.asset, sha256=post.asset.sha256, phash=phash or "", action=action
    )


def _informative(asset) -> bool:
    """Does the picture carry enough detail for its perceptual hash to mean anything? A flat
    picture's hash is rounding noise, close to every other flat picture's: blocking by it would
    refuse every plain background. Those are blocked by their exact bytes only."""
    if asset.kind != "image" or not asset.phash:
        return bool(asset.phash)
    import io

    import numpy as np
    from django.core.files.storage import default_storage
    from PIL import Image

    try:
        with (
            default_storage.open(asset.original, "rb") as f,
            Image.open(io.BytesIO(f.read())) as im,
        ):
            grey = np.asarray(im.convert("L").resize((32, 32)), dtype=np.float64)
    except (OSError, ValueError):
        return True
    return float(grey.std()) >= 2.0


def _suspend(user, *, until: dt.datetime | None, action: ModerationAction) -> None:
    from apps.accounts.services import user_suspend
    from apps.moderation.tasks import suspension_email
    from apps.posts.models import Post
    from apps.posts.tasks import fanout_post_deleted

    Suspension.objects.create(user=user, action=action, until=until)
    user_suspend(user=user)
    # They can no longer sign in to read the notice: it goes by email too, with an appeal link.
    outbox.send_on_commit(suspension_email, action.id)
    # Their posts leave every open screen too (the read paths already hide them): the most
    # recent ones, which are the ones sockets can be showing.
    recent = (
        Post.objects.filter(author_id=user.pk, removed_at__isnull=True)
        .order_by("-id")
        .values_list("id", "visibility")[: int(_setting("MODERATION_SUSPEND_ANNOUNCE", 200))]
    )
    for post_id, visibility in recent:
        outbox.send_on_commit(fanout_post_deleted, post_id, user.pk, visibility)


def _subject_user(case: Case):
    return case.subject


def _strike(case: Case, action: ModerationAction, moderator) -> None:
    user = _subject_user(case)
    if user is None:
        return
    days = int(_setting("MODERATION_STRIKE_DAYS", 90))
    Strike.objects.create(
        user=user,
        action=action,
        reason_code=action.reason_code,
        expires_at=timezone.now() + dt.timedelta(days=days),
    )
    active = Strike.objects.filter(
        user=user, lifted_at__isnull=True, expires_at__gt=timezone.now()
    ).count()
    if active >= int(_setting("MODERATION_STRIKES_TO_SUSPEND", 3)) and user.is_active:
        suspension = ModerationAction.objects.create(
            case=case,
            moderator=moderator,
            kind=Kind.SUSPEND,
            reason_code=action.reason_code,
            note=f"{active} active strikes",
            message=message_for(
                Kind.SUSPEND,
                reason_code=action.reason_code,
                target_type="user",
                until=None,
                note=f"You have {active} active strikes.",
            ),
            batch=action.batch,
            triggered_by=action,
        )
        _suspend(user, until=None, action=suspension)
        audit_record(
            actor=moderator,
            action="action.suspend",
            target_type="user",
            target_id=user.pk,
            case=case,
            reason_code=action.reason_code,
            note=suspension.note,
            before={"is_active": True},
            after={"is_active": False},
        )
        _notify_author(case, suspension)


def _unsuspend(user, *, only: Iterable[Suspension] | None = None) -> bool:
    """Lift ``only`` these suspensions (their time is up, their strikes were reversed) or all of
    them (a moderator's decision); the account comes back when none is left, unless its owner
    asked for it to be deleted. Returns whether it came back."""
    from apps.accounts.models import User

    active = Suspension.objects.filter(user=user, lifted_at__isnull=True)
    lifting = active.filter(id__in=[s.id for s in only]) if only is not None else active
    lifting.update(lifted_at=timezone.now())
    if active.exists():
        return False
    back = User.objects.filter(
        pk=user.pk, is_active=False, deletion_requested_at__isnull=True
    ).update(is_active=True)
    if back:
        _announce_again(user)
    return bool(back)


def _announce_again(user) -> None:
    """A person back from a suspension: their most recent posts return to open pages as they
    return to every read path (pages place them by cursor; older ones are there on reload)."""
    from apps.posts.models import Post
    from apps.posts.tasks import fanout_post_created

    recent = (
        Post.objects.filter(author_id=user.pk, removed_at__isnull=True)
        .order_by("-id")
        .values_list("id", flat=True)[: int(_setting("MODERATION_RESTORE_ANNOUNCE", 20))]
    )
    for post_id in recent:
        outbox.send_on_commit(fanout_post_created, post_id)


def _lift_strike_suspensions(user, *, moderator, case: Case, note: str) -> None:
    """After a strike is reversed: a suspension that strikes set off ends when the person no
    longer has enough active strikes for it (a suspension decided on its own stays)."""
    active = Strike.objects.filter(
        user=user, lifted_at__isnull=True, expires_at__gt=timezone.now()
    ).count()
    if active >= int(_setting("MODERATION_STRIKES_TO_SUSPEND", 3)):
        return
    set_off = list(
        Suspension.objects.filter(
            user=user, lifted_at__isnull=True, action__triggered_by__kind=Kind.STRIKE
        ).select_related("action")
    )
    if not set_off:
        return
    ModerationAction.objects.filter(id__in=[s.action_id for s in set_off]).update(
        reversed_at=timezone.now()
    )
    was_active = user.is_active
    back = _unsuspend(user, only=set_off)
    audit_record(
        actor=moderator,
        action="action.restore",
        target_type="user",
        target_id=user.pk,
        case=case,
        reason_code=set_off[0].action.reason_code,
        note=f"{active} active strikes after the reversal. {note}".strip()[:2000],
        before={"is_active": was_active},
        after={"is_active": back or was_active},
    )


def _notify_author(case: Case, action: ModerationAction) -> None:
    from apps.notifications.services import notice_add
    from apps.posts.models import Post

    user = _subject_user(case)
    if user is None or not action.message:
        return
    post = None
    if case.target_type == Target.POST:
        post = Post.objects.filter(id=case.target_id).first()
    elif case.target_type == Target.COMMENT:  # the notice links to the post it was under
        from apps.posts.models import Comment

        comment = Comment.objects.select_related("post").filter(id=case.target_id).first()
        post = comment.post if comment is not None else None
    notice_add(recipient=user, text=action.message, post=post)


def _settle_reports(case: Case, kind: str) -> None:
    """Close the case's open reports and tell each reporter the outcome (nothing about the
    author beyond whether action was taken)."""
    from apps.notifications.services import notice_add

    upheld = kind in AGAINST
    status = Report.Status.UPHELD if upheld else Report.Status.DISMISSED
    reports = list(case.reports.filter(status=Report.Status.OPEN).select_related("reporter"))
    Report.objects.filter(id__in=[r.id for r in reports]).update(
        status=status, decided_at=timezone.now()
    )
    if upheld:
        text = "Thank you for your report: the moderators took action."
    else:
        text = "Thank you for your report: the moderators found no breach of the rules."
    for reporter in {r.reporter for r in reports}:
        notice_add(recipient=reporter, text=text)


def action_take(
    *,
    moderator,
    case_id: int,
    action: str,
    reason_code: str,
    note: str = "",
    until: dt.datetime | None = None,
    batch: int | None = None,
    message_template: str | None = None,
) -> ModerationAction:
    """Decide a case. ``until`` bounds a suspension (none: for good). Everything it changes is
    visible everywhere when the transaction commits; the author and reporters are told.
    ``message_template`` names one of ``MESSAGE_PRESETS``, added to the author's notice."""
    note = (note or "").strip()[:2000]
    if message_template and message_template not in MESSAGE_PRESETS:
        raise ApplicationError(
            "invalid",
            _("Choose a message template."),
            fields={"message_template": [f"Choose one of {', '.join(MESSAGE_PRESETS)}."]},
        )
    if until is not None and until <= timezone.now():
        raise ApplicationError(
            "invalid", _("The end must be in the future."), fields={"until": ["In the past."]}
        )
    with transaction.atomic():
        case = (
            Case.objects.select_for_update(of=("self",))
            .select_related("subject")
            .filter(id=case_id)
            .first()
        )
        if case is None:
            raise ApplicationError("not_found", _("Not found."))
        _check(moderator, case, action, reason_code)
        before = _target_state(case)
        strike_until = None
        if action == Kind.STRIKE:
            strike_until = timezone.now() + dt.timedelta(
                days=int(_setting("MODERATION_STRIKE_DAYS", 90))
            )
        record = ModerationAction.objects.create(
            case=case,
            moderator=moderator,
            kind=action,
            reason_code=reason_code,
            note=note,
            message=message_for(
                action,
                reason_code=reason_code,
                target_type=case.target_type,
                until=until if action == Kind.SUSPEND else strike_until,
                note=MESSAGE_PRESETS.get(message_template or "", ""),
            ),
            batch=batch,
            until=until if action == Kind.SUSPEND else strike_until,
        )
        if action in (Kind.REMOVE, Kind.HIDE):
            _take_down(case, f"moderation_{'removed' if action == Kind.REMOVE else 'hidden'}")
            if action == Kind.REMOVE:
                _block_media(case, record)
        elif action == Kind.MARK_SENSITIVE and case.target_type == Target.POST:
            from apps.posts.models import Post

            Post.objects.filter(id=case.target_id).update(sensitive=True)
        elif action == Kind.SUSPEND and case.subject is not None:
            _suspend(case.subject, until=until, action=record)
        elif action == Kind.UNSUSPEND and case.subject is not None:
            _unsuspend(case.subject)
        elif action == Kind.STRIKE:
            _strike(case, record, moderator)
        after = _target_state(case)
        audit_record(
            actor=moderator,
            action=f"action.{action}",
            target_type=case.target_type,
            target_id=case.target_id,
            case=case,
            reason_code=reason_code,
            note=note,
            before=before,
            after=after,
        )
        now = timezone.now()
        changes: dict[str, Any] = {}
        if case.first_action_at is None:
            changes["first_action_at"] = now
        # Hiding keeps the case open for the review it waits for; everything else decides it.
        if action != Kind.HIDE and case.status == Case.Status.OPEN:
            changes.update(status=Case.Status.CLOSED, decision=action, closed_at=now)
        if changes:
            Case.objects.filter(id=case.id).update(**changes)
            case.refresh_from_db()
        if action != Kind.HIDE:
            _settle_reports(case, action)
        _notify_author(case, record)
        cases.case_announce(case, "decided" if case.status == Case.Status.CLOSED else "updated")
    return record


def actions_bulk(
    *,
    moderator,
    case_ids: list[int],
    action: str,
    reason_code: str,
    note: str = "",
    message_template: str | None = None,
) -> list[ModerationAction]:
    """The same decision over many cases (a spam wave), each in its own transaction so one
    refusal (a case already decided, one about the moderator) does not undo the others.
    Cases refused are skipped; the answer lists the actions taken."""
    if len(case_ids) > 500:
        raise ApplicationError(
            "invalid", _("At most 500 cases at once."), fields={"case_ids": ["At most 500."]}
        )
    batch = new_id()
    taken = []
    for case_id in dict.fromkeys(case_ids):
        try:
            taken.append(
                action_take(
                    moderator=moderator,
                    case_id=case_id,
                    action=action,
                    reason_code=reason_code,
                    note=note,
                    batch=batch,
                    message_template=message_template,
                )
            )
        except ApplicationError as e:
            if e.code == "invalid":
                raise
    return taken


def restore(*, moderator, action: ModerationAction, note: str = "") -> None:
    """Undo an action (an appeal reversed it): the content comes back everywhere, a suspension
    ends, a strike is lifted, the media leaves the blocklist. Call inside a transaction."""
    from apps.posts.models import Comment, Post

    case = action.case
    before = _target_state(case)
    now = timezone.now()
    if action.kind in (Kind.REMOVE, Kind.HIDE):
        if case.target_type == Target.POST:
            from apps.posts.tasks import fanout_post_created

            Post.objects.filter(id=case.target_id).update(removed_at=None, removed_reason="")
            # Back on open pages too, as on every read path (pages place it by its cursor).
            outbox.send_on_commit(fanout_post_created, case.target_id)
        elif case.target_type == Target.COMMENT:
            Comment.objects.filter(id=case.target_id).update(removed_at=None, removed_reason="")
        MediaBlock.objects.filter(action=action, lifted_at__isnull=True).update(lifted_at=now)
    elif action.kind == Kind.MARK_SENSITIVE and case.target_type == Target.POST:
        Post.objects.filter(id=case.target_id).update(sensitive=False)
    elif action.kind == Kind.SUSPEND and case.subject is not None:
        _unsuspend(case.subject)
    elif action.kind == Kind.STRIKE:
        Strike.objects.filter(action=action, lifted_at__isnull=True).update(lifted_at=now)
        if case.subject is not None:
            _lift_strike_suspensions(case.subject, moderator=moderator, case=case, note=note)
    ModerationAction.objects.filter(id=action.id).update(reversed_at=now)
    restored = ModerationAction.objects.create(
        case=case,
        moderator=moderator,
        kind=Kind.RESTORE,
        reason_code=action.reason_code,
        note=note[:2000],
        message=message_for(
            Kind.RESTORE, reason_code=action.reason_code, target_type=case.target_type, until=None
        ),
    )
    audit_record(
        actor=moderator,
        action="action.restore",
        target_type=case.target_type,
        target_id=case.target_id,
        case=case,
        reason_code=action.reason_code,
        note=note[:2000],
        before=before,
        after=_target_state(case),
    )
    _notify_author(case, restored)


def suspensions_expire() -> int:
    """Lift suspensions whose time is up (beat). Returns how many."""
    due = list(
        Suspension.objects.filter(lifted_at__isnull=True, until__lte=timezone.now())
        .select_related("user")
        .order_by("id")[:500]
    )
    for suspension in due:
        with transaction.atomic():
            still = (
                Suspension.objects.select_for_update()
                .filter(id=suspension.id, lifted_at__isnull=True)
                .exists()
            )
            if still:
                _unsuspend(suspension.user, only=[suspension])
    return len(due)
