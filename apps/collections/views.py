"""Collections pages, over the same services and selectors as the API."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.collections import selectors, services
from apps.collections.models import COLLECTIONS_MAX
from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams
from apps.posts.selectors import post_get_visible, viewer_reactions


def _say(request, error: ApplicationError) -> None:
    """A refusal, told to the person; nothing they saved is lost."""
    for errors in (error.fields or {"": [error.message]}).values():
        for text in errors:
            messages.error(request, text)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) <= 18 else None


@login_required
def collection_index(request):
    """My collections, and a form to start one."""
    if request.method == "POST":
        try:
            collection = services.collection_create(
                owner=request.user,
                name=request.POST.get("name", ""),
                visibility=request.POST.get("visibility") or "private",
            )
        except ApplicationError as e:
            _say(request, e)
        else:
            return redirect("collections:detail", collection_id=collection.id)
    page = selectors.collection_list_mine(
        owner=request.user, params=PageParams(limit=COLLECTIONS_MAX)
    )
    return render(
        request, "collections/index.html", {"collections": page.items, "max": COLLECTIONS_MAX}
    )


def collection_detail(request, collection_id: int):
    """One collection with its posts (the owner also gets rename, reorder, remove, delete)."""
    try:
        collection = selectors.collection_get(collection_id=collection_id, viewer=request.user)
        params = PageParams.from_query(request.GET)
    except ApplicationError as e:
        raise Http404 from e
    page = selectors.collection_posts(collection=collection, viewer=request.user, params=params)
    reacted = viewer_reactions(viewer=request.user, post_ids=[p.id for p in page.items])
    for post in page.items:
        post.viewer_reacted = reacted.get(post.id, [])
    return render(
        request,
        "collections/detail.html",
        {
            "collection": collection,
            "page": page,
            "mine": collection.owner_id == request.user.pk,
            "first_page": params.cursor is None,
        },
    )


@login_required
@require_POST
def collection_edit(request, collection_id: int):
    """Rename, change visibility, or delete (``action=delete``)."""
    try:
        if request.POST.get("action") == "delete":
            services.collection_delete(user=request.user, collection_id=collection_id)
            messages.success(request, "Collection deleted.")
            return redirect("collections:index")
        services.collection_update(
            user=request.user,
            collection_id=collection_id,
            name=request.POST.get("name"),
            visibility=request.POST.get("visibility") or None,
        )
    except ApplicationError as e:
        if e.code == "not_found":
            raise Http404 from e
        _say(request, e)
    return redirect("collections:detail", collection_id=collection_id)


@login_required
@require_POST
def collection_item(request, collection_id: int, post_id: int):
    """Move a post up or down (``action=up|down``), or take it out (``action=remove``)."""
    action = request.POST.get("action")
    try:
        if action == "remove":
            services.collection_post_remove(
                user=request.user, collection_id=collection_id, post_id=post_id
            )
        elif action in ("up", "down"):
            services.collection_post_move(
                user=request.user,
                collection_id=collection_id,
                post_id=post_id,
                offset=-1 if action == "up" else 1,
            )
        else:
            raise ApplicationError("not_found", "Not found.")
    except ApplicationError as e:
        raise Http404 from e
    url = f"/collections/{collection_id}"
    if action in ("up", "down"):
        url += f"#item-{post_id}"  # keeps the keyboard user where they were
    return redirect(url)


@login_required
def save(request, post_id: int):
    """The Save menu without script: my collections, each with a button to add or remove this
    post, and a form to save it to a new collection."""
    try:
        post = post_get_visible(post_id=post_id, viewer=request.user)
    except ApplicationError as e:
        raise Http404 from e
    if request.method == "POST":
        try:
            collection_id = _int(request.POST.get("collection"))
            if collection_id is None:
                collection_id = services.collection_create(
                    owner=request.user,
                    name=request.POST.get("name", ""),
                    visibility=request.POST.get("visibility") or "private",
                ).id
            if request.POST.get("action") == "remove":
                services.collection_post_remove(
                    user=request.user, collection_id=collection_id, post_id=post.id
                )
                messages.success(request, "Removed from the collection.")
            else:
                services.collection_post_add(
                    user=request.user, collection_id=collection_id, post_id=post.id
                )
                messages.success(request, "Saved.")
        except ApplicationError as e:
            if e.code == "not_found":
                raise Http404 from e
            _say(request, e)
        return redirect("collections:save", post_id=post.id)
    page = selectors.collection_list_mine(
        owner=request.user, params=PageParams(limit=COLLECTIONS_MAX)
    )
    saving = selectors.collections_saving(owner=request.user, post_id=post.id)
    for collection in page.items:
        collection.has_post = collection.id in saving
    return render(request, "collections/save.html", {"post": post, "collections": page.items})
