""" "More like this" on a post page, as the person looking may see it."""

from django import template

from apps.core.exceptions import ApplicationError
from apps.discovery.selectors import posts_similar_page

register = template.Library()


@register.simple_tag(takes_context=True)
def similar_posts(context, post) -> list:
    request = context.get("request")
    try:
        # ``post`` is the page's own, already read for this viewer.
        return posts_similar_page(source=post, viewer=getattr(request, "user", None))
    except ApplicationError:
        return []
