"""The Explore page, over the same selectors as the API."""

from django.shortcuts import render

from apps.discovery import selectors
from apps.posts.selectors import viewer_reactions


def explore(request):
    trending = selectors.explore_trending(viewer=request.user, limit=12)
    reacted = viewer_reactions(viewer=request.user, post_ids=[p.id for p in trending.items])
    for post in trending.items:
        post.viewer_reacted = reacted.get(post.id, [])
    return render(
        request,
        "discovery/explore.html",
        {
            "trending": trending.items,
            "creators": selectors.explore_creators(viewer=request.user),
            "tags": selectors.explore_tags(viewer=request.user),
        },
    )
