"""``{% open_cases as n %}``: the count of open cases in moderators' navigation ("1000+" past
the cap; 0 for others, without a query)."""

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def open_cases(context) -> int | str:
    from apps.moderation.queue import queue_count
    from apps.moderation.roles import is_moderator

    user = context.get("user")
    if user is None or not is_moderator(user):
        return 0
    from apps.moderation.queue import OPEN_COUNT_CAP

    count = queue_count()
    return f"{OPEN_COUNT_CAP}+" if count >= OPEN_COUNT_CAP else count


@register.simple_tag(takes_context=True)
def is_moderator(context) -> bool:
    from apps.moderation.roles import is_moderator as has_role

    return has_role(context.get("user"))
