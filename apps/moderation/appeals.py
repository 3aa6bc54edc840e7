"""Appeals: the author asks for a decision to be looked at again; another moderator decides.

An author may appeal an action taken against their content or account (a removal, a hide, a
sensitive mark, a warning, a strike, a suspension) once, within ``APPEAL_DAYS`` days of the
notice (the action's time). The decision belongs to a moderator other than the one who took the
action: the same eyes would only confirm themselves. A reversal undoes the action everywhere at
once through ``actions.restore`` (content back in feeds, pages, API and media; a suspension or
strike lifted; the media off the blocklist). Either way the author is told, and the decision is
an entry of the audit log ("appeal.upheld" / "appeal.reversed").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.exceptions import ApplicationError
from apps.moderation import actions
from apps.moderation.audit import audit_record
from apps.moderation.models import Appeal, Case, ModerationAction, Target

UPHELD_TEXT = "After reviewing your appeal, the moderators kept their decision."
# A suspended person cannot sign in to read the notice or appeal: the notice is also emailed to
# them with a signed link that opens the appeal form for that one decision, without a session.
APPEAL_LINK_SALT = "vivid.moderation.appeal-link"


def _not_found() -> ApplicationError:
    return ApplicationError("not_found", _("Not found."))


def appealable_action(*, case: Case) -> ModerationAction | None:
    """The latest action against ``case``'s target that still stands (not reversed)."""
    return (
        ModerationAction.objects.filter(
            case=case, kind__in=list(actions.AGAINST), reversed_at__isnull=True
        )
        .order_by("-id")
        .first()
    )


def appeal_deadline(action: ModerationAction) -> dt.datetime:
    return action.created_at + dt.timedelta(days=actions.APPEAL_DAYS)


def appeal_create(*, author, case_id: int, body: str) -> Appeal:
    """Appeal the standing decision of case ``case_id``. Only the person it is about may (404
    for anyone else, as for a case they cannot see); once per action (409); within
    ``APPEAL_DAYS`` of the notice (403 after)."""
    body = (body or "").strip()
    if not body:
        raise ApplicationError(
            "invalid", _("Say why the decision should change."), fields={"body": ["Required."]}
        )
    if len(body) > 4000:
        raise ApplicationError(
            "invalid", _("At most 4000 characters."), fields={"body": ["Too long."]}
        )
    case = Case.objects.filter(id=case_id, subject_id=author.pk).first()
    if case is None:
        raise _not_found()
    with transaction.atomic():
        action = appealable_action(case=case)
        if action is None:
            raise ApplicationError("conflict", _("There is no decision to appeal."))
        if timezone.now() > appeal_deadline(action):
            raise ApplicationError(
                "forbidden",
                f"Decisions can be appealed within {actions.APPEAL_DAYS} days of the notice.",
            )
        try:
            with transaction.atomic():
                appeal = Appeal.objects.create(action=action, case=case, author=author, body=body)
        except IntegrityError as e:
            raise ApplicationError("conflict", _("You already appealed this decision.")) from e
    return appeal


def appeal_decide(*, moderator, appeal_id: int, decision: str, note: str = "") -> Appeal:
    """Decide a pending appeal: ``upheld`` keeps the decision, ``reversed`` undoes it everywhere.
    The moderator who took the action may not decide it (403), nor may anyone decide about
    themselves."""
    if decision not in (Appeal.Status.UPHELD, Appeal.Status.REVERSED):
        raise ApplicationError(
            "invalid",
            _("Choose a decision."),
            fields={"decision": ["Choose upheld or reversed."]},
        )
    note = (note or "").strip()[:2000]
    with transaction.atomic():
        appeal = (
            Appeal.objects.select_for_update(of=("self",))
            .select_related("action", "action__case", "action__case__subject", "author")
            .filter(id=appeal_id)
            .first()
        )
        if appeal is None:
            raise _not_found()
        action = appeal.action
        if action.moderator_id == moderator.pk:
            raise ApplicationError(
                "forbidden", _("You took this decision; another moderator decides the appeal.")
            )
        if appeal.author_id == moderator.pk or action.case.subject_id == moderator.pk:
            raise ApplicationError(
                "forbidden", _("This appeal is about you; another moderator decides it.")
            )
        if appeal.status != Appeal.Status.PENDING:
            raise ApplicationError("conflict", _("This appeal is already decided."))
        now = timezone.now()
        Appeal.objects.filter(id=appeal.id).update(
            status=decision, decided_by=moderator, decided_at=now, note=note
        )
        if decision == Appeal.Status.REVERSED:
            # Restores the target everywhere and tells the author (its own notice and audit entry).
            actions.restore(moderator=moderator, action=action, note=note)
        else:
            from apps.notifications.services import notice_add

            post = None
            if action.case.target_type == Target.POST:
                from apps.posts.models import Post

                post = Post.objects.filter(id=action.case.target_id).first()
            notice_add(recipient=appeal.author, text=UPHELD_TEXT, post=post)
        audit_record(
            actor=moderator,
            action=f"appeal.{decision}",
            target_type=action.case.target_type,
            target_id=action.case.target_id,
            case=action.case,
            reason_code=action.reason_code,
            note=note,
            before={"appeal": str(appeal.id), "status": Appeal.Status.PENDING},
            after={"appeal": str(appeal.id), "status": decision},
        )
        appeal.refresh_from_db()
    return appeal


def appeals_pending() -> QuerySet[Appeal]:
    """Appeals waiting for a moderator, oldest first."""
    return (
        Appeal.objects.filter(status=Appeal.Status.PENDING)
        .select_related("action", "action__moderator", "case", "author")
        .order_by("id")
    )


def appeals_for_case(*, case_id: int) -> list[dict[str, Any]]:
    """A case's appeals, for the case view."""
    return [
        appeal_payload(a)
        for a in Appeal.objects.filter(case_id=case_id)
        .select_related("action", "author", "decided_by")
        .order_by("id")
    ]


def appeal_payload(appeal: Appeal) -> dict[str, Any]:
    return {
        "id": str(appeal.id),
        "case_id": str(appeal.case_id),
        "action": {
            "id": str(appeal.action_id),
            "kind": appeal.action.kind,
            "reason_code": appeal.action.reason_code,
            "moderator_id": str(appeal.action.moderator_id),
            "created_at": appeal.action.created_at.isoformat(),
        },
        "author": appeal.author.username,
        "body": appeal.body,
        "status": appeal.status,
        "decided_by": appeal.decided_by.username if appeal.decided_by_id else None,
        "decided_at": appeal.decided_at.isoformat() if appeal.decided_at else None,
        "note": appeal.note,
        "created_at": appeal.created_at.isoformat(),
    }


def removed_notice(*, post, viewer) -> dict[str, Any] | None:
    """What the author of a post the moderators took down sees on its page: the decision, the
    reason and what they were told, and whether (and until when) they may appeal. None when
    the viewer is not the author or the post was not taken down by the moderators."""
    if (
        viewer is None
        or not viewer.is_authenticated
        or post.author_id != viewer.pk
        or not (post.removed_reason or "").startswith("moderation_")
    ):
        return None
    case = (
        Case.objects.filter(target_type=Target.POST, target_id=post.id, subject_id=viewer.pk)
        .order_by("-id")
        .first()
    )
    action = appealable_action(case=case) if case else None
    appeal = None
    if action is not None:
        appeal = Appeal.objects.filter(action=action, author_id=viewer.pk).first()
    deadline = appeal_deadline(action) if action else None
    return {
        "post": post,
        "case": case,
        "action": action,
        "reason": actions.REASON_TEXT.get(action.reason_code, "") if action else "",
        "hidden": post.removed_reason == "moderation_hidden",
        "appeal": appeal,
        "deadline": deadline,
        "can_appeal": bool(action and appeal is None and timezone.now() <= deadline),
    }


def appeal_link_token(*, action: ModerationAction) -> str:
    """A signed token naming one decision and the person it is about; good for the appeal
    window (the deadline is checked again when the appeal is made)."""
    return signing.dumps(
        {"action": action.id, "user": action.case.subject_id}, salt=APPEAL_LINK_SALT
    )


def appeal_link_action(*, token: str) -> ModerationAction:
    """The decision a link names, if the link is genuine, unexpired and the decision still
    stands for that person; 404 otherwise (a forged link learns nothing)."""
    try:
        data = signing.loads(
            token, salt=APPEAL_LINK_SALT, max_age=dt.timedelta(days=actions.APPEAL_DAYS + 1)
        )
        action_id, user_id = int(data["action"]), int(data["user"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as e:
        raise _not_found() from e
    action = (
        ModerationAction.objects.select_related("case", "case__subject")
        .filter(id=action_id, case__subject_id=user_id)
        .first()
    )
    if action is None:
        raise _not_found()
    return action
