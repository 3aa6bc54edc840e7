"""``{% open_cases as n %}``: the count of open cases in moderators' navigation (0 for others,
without a query)."""

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def open_cases(context) -> int:
    from apps.moderation.queue import queue_count
    from apps.moderation.roles import is_moderator

    user = context.get("user")
    if user is None or not is_moderator(user):
        return 0
    return queue_count()


@register.simple_tag(takes_context=True)
def is_moderator(context) -> bool:
    from apps.moderation.roles import is_moderator as has_role

    return has_role(context.get("user"))
