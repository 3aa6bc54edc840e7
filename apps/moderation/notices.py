"""Notices that must reach a person outside the site.

A suspended person's sessions and tokens end with the suspension, so the notice in their
notifications is out of their reach; the same text goes by email with a signed link to the
appeal form of that decision (``appeals.appeal_link_token``), which works without signing in.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from apps.moderation import actions, appeals
from apps.moderation.models import ModerationAction


def appeal_link_url(*, action: ModerationAction) -> str:
    path = reverse("moderation:appeal-link", args=[appeals.appeal_link_token(action=action)])
    return settings.SITE_URL.rstrip("/") + path


def suspension_email_send(*, action_id: int) -> bool:
    """Send the suspension notice of ``action_id`` to the person's address. False when there is
    nobody to write to (no address, the decision already reversed)."""
    action = (
        ModerationAction.objects.select_related("case", "case__subject")
        .filter(id=action_id, kind=ModerationAction.Kind.SUSPEND, reversed_at__isnull=True)
        .first()
    )
    user = action.case.subject if action is not None else None
    if user is None or not user.email:
        return False
    body = (
        f"Hello {user.username},\n\n{action.message}\n\n"
        f"If you think this decision is wrong, you may appeal it within {actions.APPEAL_DAYS} "
        f"days; another moderator will look at it:\n{appeal_link_url(action=action)}\n\n"
        "This link is personal: anyone holding it can appeal in your name.\n"
    )
    send_mail("Your Vivid account is suspended", body, None, [user.email])
    return True
