""" "More like this" on a post page, as the person looking may see it."""

from django import template

from apps.core.exceptions import ApplicationError
from apps.discovery.selectors import posts_similar

register = template.Library()


@register.simple_tag(takes_context=True)
def similar_posts(context, post) -> list:
    request = context.get("request")
    try:
        return posts_similar(post_id=post.id, viewer=getattr(request, "user", None))
    except ApplicationError:
        return []
