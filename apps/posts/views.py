"""Feed, post and card pages, over the same selectors and services as the API."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams
from apps.posts import selectors, services


def _tab(request) -> str:
    tab = request.GET.get("tab")
    if tab not in ("home", "public", "trending"):
        tab = "home" if request.user.is_authenticated else "public"
    if tab == "home" and not request.user.is_authenticated:
        tab = "public"
    return tab


def _page(request, tab: str):
    try:
        if tab == "trending":
            query = request.GET.copy()
            raw_cursor = query.pop("cursor", [None])[0]
            query.pop("since", None)
            params = PageParams.from_query(query)
            return selectors.feed_trending(
                viewer=request.user,
                limit=params.limit,
                cursor=selectors.TrendingCursor.parse(raw_cursor),
            )
        params = PageParams.from_query(request.GET)
    except ApplicationError as e:
        raise Http404 from e
    if tab == "home":
        return selectors.feed_home(viewer=request.user, params=params)
    if tab == "tag":
        return selectors.feed_tag(
            tag=request.GET.get("tag", ""), viewer=request.user, params=params
        )
    return selectors.feed_public(viewer=request.user, params=params)


def _with_reactions(request, posts):
    """Each post's ``viewer_reacted`` (the feeds' selectors set it in the page's own query)."""
    posts = list(posts)
    if all(hasattr(p, "viewer_reacted") for p in posts):
        return posts
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
    tab = "tag" if request.GET.get("tab") == "tag" else _tab(request)
    page = _page(request, tab)
    _with_reactions(request, page.items)
    return render(request, "posts/partials/cards.html", {"tab": tab, "page": page})


def tag_feed(request, tag: str):
    """Posts with one #hashtag, newest first."""
    tag = tag.lower()
    request.GET = request.GET.copy()
    request.GET["tag"] = tag
    page = _page(request, "tag")
    _with_reactions(request, page.items)
    return render(request, "posts/tag.html", {"tab": "tag", "tag": tag, "page": page})


def _comments(request, post):
    return selectors.comments_for(post=post, viewer=request.user, params=PageParams(limit=100))


def post_detail(request, post_id: int):
    try:
        post = selectors.post_get_visible(post_id=post_id, viewer=request.user)
        remixes = []
        if post.remix_count > 0:  # the count kept on the post: no query when there are none
            remixes = selectors.remixes_of(
                post_id=post.id, viewer=request.user, params=PageParams(limit=12), checked=True
            ).items
    except ApplicationError as e:
        from apps.moderation.appeals import removed_notice  # its author learns why, may appeal
        from apps.posts.models import Post

        own = Post.objects.filter(id=post_id, author_id=request.user.pk).first()
        notice = removed_notice(post=own, viewer=request.user) if own else None
        if notice is None:
            raise Http404 from e
        return render(request, "moderation/removed_notice.html", {"notice": notice})
    _with_reactions(request, [post])
    parent = None
    if post.remix_of_id:
        try:
            parent = selectors.post_get_visible(post_id=post.remix_of_id, viewer=request.user)
        except ApplicationError:
            parent = None
    return render(
        request,
        "posts/detail.html",
        {
            "post": post,
            "parent": parent,
            "remixes": remixes,
            "comments": _comments(request, post).items,
            **_alt_form_context(request, post),
        },
    )


def _alt_form_context(request, post, *, draft: str | None = None, errors=()) -> dict:
    """The author's "Edit alt text" form; the description offered from the prompt is built for
    the author alone (it may quote a prompt hidden from everyone else)."""
    if request.user.pk != post.author_id:
        return {}
    from apps.posts.alt import ALT_TEXT_MAX, alt_suggestion

    return {
        "alt_form": {
            "value": post.alt_text if draft is None else draft,
            # Not while the prompt is hidden: alt text repeating it would be refused.
            "suggestion": "" if post.hide_prompt else alt_suggestion(asset=post.asset),
            "max": ALT_TEXT_MAX,
            "errors": list(errors),
        }
    }


@login_required
@require_POST
def alt_text_edit(request, post_id: int):
    """The author writes or changes the post's alt text (the page's form; works without JS).

    Bad input (too long, control characters) shows the page again with the draft kept and the
    reason; nothing is saved. Someone else's post answers 404 here, as every other post form."""
    draft = request.POST.get("alt_text", "")
    if request.POST.get("use_suggestion"):
        # "Use the suggestion": the author adopts the sentence offered from their own prompt.
        from apps.posts.alt import alt_suggestion

        try:
            post = selectors.post_get_visible(post_id=post_id, viewer=request.user)
        except ApplicationError as e:
            raise Http404 from e
        if post.author_id == request.user.pk:
            draft = alt_suggestion(asset=post.asset) or draft
    try:
        services.post_update(user=request.user, post_id=post_id, alt_text=draft)
    except ApplicationError as e:
        if e.code != "invalid":
            raise Http404 from e
        post = selectors.post_get_visible(post_id=post_id, viewer=request.user)
        errors = (e.fields or {}).get("alt_text") or [e.message]
        _with_reactions(request, [post])
        return render(
            request,
            "posts/detail.html",
            {
                "post": post,
                "parent": None,
                "remixes": [],
                "comments": _comments(request, post).items,
                **_alt_form_context(request, post, draft=draft[:5000], errors=errors),
            },
            status=400,
        )
    messages.success(request, "Alt text saved.")
    return redirect("posts:detail", post_id=post_id)


@login_required
@require_POST
def comment_create(request, post_id: int):
    body = request.POST.get("body", "")
    parent = request.POST.get("parent_id", "")
    try:
        services.comment_create(
            user=request.user,
            post_id=post_id,
            body=body,
            parent_id=int(parent) if parent.isdigit() and len(parent) <= 19 else None,
        )
    except ApplicationError as e:
        if e.code == "not_found":
            raise Http404 from e
        # Refused, not cut short: nothing is saved and the person is told why.
        for errors in (e.fields or {"": [e.message]}).values():
            for error in errors:
                messages.error(request, error)
    return _comments_answer(request, post_id)


@login_required
@require_POST
def comment_delete(request, post_id: int, comment_id: int):
    try:
        services.comment_delete(user=request.user, post_id=post_id, comment_id=comment_id)
    except ApplicationError as e:
        raise Http404 from e
    return _comments_answer(request, post_id)


def post_comments(request, post_id: int):
    """The comments block (htmx: refreshed when ``comment.created`` arrives)."""
    try:
        post = selectors.post_get_visible(post_id=post_id, viewer=request.user)
    except ApplicationError as e:
        raise Http404 from e
    return render(
        request,
        "posts/partials/comments.html",
        {"post": post, "comments": _comments(request, post).items},
    )


def _comments_answer(request, post_id: int):
    if request.htmx:
        return post_comments(request, post_id)
    return redirect("posts:detail", post_id=post_id)


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
def prompt_visibility(request, post_id: int):
    """The author hides the prompt from everyone else (``hide=1``) or shows it again."""
    hide = request.POST.get("hide") == "1"
    try:
        before = selectors.post_get_visible(post_id=post_id, viewer=request.user).alt_text
        post = services.post_update(user=request.user, post_id=post_id, hide_prompt=hide)
    except ApplicationError as e:
        raise Http404 from e
    if hide and before and not post.alt_text:
        messages.info(
            request,
            "Your alt text repeated the prompt, so it was cleared: people now hear a generic "
            "description. Write one in other words with “Add alt text”.",
        )
    return redirect("posts:detail", post_id=post_id)


@login_required
@require_POST
def delete(request, post_id: int):
    try:
        services.post_delete(user=request.user, post_id=post_id)
    except ApplicationError as e:
        raise Http404 from e
    return redirect("posts:feed")
