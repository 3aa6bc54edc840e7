"""The public collections on a profile page, as the person looking sees them."""

from django import template

from apps.collections import selectors
from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams

register = template.Library()


@register.simple_tag(takes_context=True)
def public_collections(context, owner) -> list:
    request = context.get("request")
    viewer = getattr(request, "user", None)
    try:
        page = selectors.collection_list_public(
            owner=owner, viewer=viewer, params=PageParams(limit=24)
        )
    except ApplicationError:
        return []
    return list(page.items)
