"""Feed, post and card pages, over the same selectors and services as the API."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams
from apps.posts import selectors, services


def _tab(request) -> str:
    tab = request.GET.get("tab")
    if tab not in ("home", "public"):
        tab = "home" if request.user.is_authenticated else "public"
    if tab == "home" and not request.user.is_authenticated:
        tab = "public"
    return tab


def _page(request, tab: str):
    try:
        params = PageParams.from_query(request.GET)
    except ApplicationError as e:
        raise Http404 from e
    if tab == "home":
        return selectors.feed_home(viewer=request.user, params=params)
    return selectors.feed_public(viewer=request.user, params=params)


def _with_reactions(request, posts):
    reacted = selectors.viewer_reactions(viewer=request.user, post_ids=[p.id for p in posts])
    for post in posts:
        post.viewer_reacted = reacted.get(post.id, [])
    return posts


def feed(request):
    tab = _tab(request)
    page = _page(request, tab)
    _with_reactions(request, page.items)
    return render(request, "posts/feed.html", {"tab": tab, "page": page})


def feed_cards(request):
    """A run of cards (htmx: "load more", and the live catch-up with ``since``)."""
    tab = _tab(request)
    page = _page(request, tab)
    _with_reactions(request, page.items)
    return render(request, "posts/partials/cards.html", {"tab": tab, "page": page})


def post_detail(request, post_id: int):
    try:
        post = selectors.post_get_visible(post_id=post_id, viewer=request.user)
    except ApplicationError as e:
        raise Http404 from e
    _with_reactions(request, [post])
    return render(request, "posts/detail.html", {"post": post})


def post_card(request, post_id: int):
    """One card, fetched by the live feed when a ``post.created`` event arrives."""
    try:
        post = selectors.post_get_visible(post_id=post_id, viewer=request.user)
    except ApplicationError as e:
        raise Http404 from e
    _with_reactions(request, [post])
    return render(request, "posts/partials/card.html", {"post": post})


@login_required
@require_POST
def react(request, post_id: int):
    kind = request.POST.get("kind", "like")
    try:
        if request.POST.get("action") == "remove":
            post = services.reaction_remove(user=request.user, post_id=post_id, kind=kind)
        else:
            post = services.reaction_add(user=request.user, post_id=post_id, kind=kind)
    except ApplicationError as e:
        raise Http404 from e
    _with_reactions(request, [post])
    if request.htmx:
        return render(request, "posts/partials/reactions.html", {"post": post})
    return redirect("posts:detail", post_id=post.id)


@login_required
@require_POST
def delete(request, post_id: int):
    try:
        services.post_delete(user=request.user, post_id=post_id)
    except ApplicationError as e:
        raise Http404 from e
    return redirect("posts:feed")
