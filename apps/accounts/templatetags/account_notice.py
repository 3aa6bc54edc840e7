"""The site-wide reminder to confirm one's email address, where publishing needs it."""

from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.inclusion_tag("account/snippets/confirm_notice.html", takes_context=True)
def email_confirmation_notice(context) -> dict:
    """Shown to a signed-in person whose address is unconfirmed while
    ``ACCOUNT_CONFIRMATION_REQUIRED_TO_PUBLISH`` is on (one query; none otherwise)."""
    from apps.accounts.adapter import email_confirmation_missing

    user = context.get("user")
    show = (
        getattr(settings, "ACCOUNT_CONFIRMATION_REQUIRED_TO_PUBLISH", False)
        and user is not None
        and user.is_authenticated
        and email_confirmation_missing(user)
    )
    return {"show": show}
