"""The search page: ``/search?q=&type=``, over the same selectors as the API."""

from django.shortcuts import render

from apps.core.exceptions import ApplicationError
from apps.posts.selectors import viewer_reactions
from apps.search import selectors
from apps.search.selectors import TYPES, SearchParams

TAB_LABELS = {"posts": "Posts", "people": "People", "tags": "Tags"}


def search(request):
    """Results for ``q`` in one tab. The query itself is not written back into the page: the
    search box gets it from the address (static/js/search.js), so a page never carries words
    that are not the results' own (a hidden prompt's words find nothing and show nothing)."""
    kind = request.GET.get("type") or "posts"
    if kind not in TYPES:
        kind = "posts"
    context = {
        "type": kind,
        "tabs": [(t, TAB_LABELS[t]) for t in TYPES],
        "page": None,
        "error": None,
    }
    status = 200
    if (request.GET.get("q") or "").strip():
        try:
            params = SearchParams.from_query(request.GET)
        except ApplicationError as e:
            context["error"] = next(iter((e.fields or {}).values()), [e.message])[0]
            status = 400
        else:
            context["page"] = _results(request, params)
            context["next_query"] = _next_query(request, context["page"].next_cursor)
    return render(request, "search/results.html", context, status=status)


def _results(request, params: SearchParams):
    viewer = request.user
    if params.type == "people":
        return selectors.search_people(
            viewer=viewer, q=params.q, limit=params.limit, cursor=params.cursor
        )
    if params.type == "tags":
        return selectors.search_tags(
            viewer=viewer, q=params.q, limit=params.limit, cursor=params.cursor
        )
    page = selectors.search_posts(
        viewer=viewer, q=params.q, limit=params.limit, cursor=params.cursor
    )
    reacted = viewer_reactions(viewer=viewer, post_ids=[p.id for p in page.items])
    for post in page.items:  # what the feed card shows as the viewer's own reactions
        post.viewer_reacted = reacted.get(post.id, [])
    return page


def _next_query(request, cursor: str | None) -> str | None:
    if not cursor:
        return None
    query = request.GET.copy()
    query.pop("q", None)  # put back by search.js (see ``search``)
    query["cursor"] = cursor
    return query.urlencode()
