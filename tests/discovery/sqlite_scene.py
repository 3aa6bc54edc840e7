"""A small scene on SQLite for ``test_sqlite.py`` (run in a child process through
``manage.py shell``): Explore, More like this and collections over the same selectors."""

from __future__ import annotations

import json

from django.utils import timezone


def main() -> None:
    from apps.accounts import services as accounts
    from apps.collections import selectors as collections_read
    from apps.collections import services as collections
    from apps.core.pagination import PageParams
    from apps.discovery import selectors as discovery
    from apps.generation.models import GenerationJob
    from apps.media.models import Asset
    from apps.media.services import asset_create
    from apps.posts import services as posts
    from apps.posts.models import Post
    from apps.social import services as social
    from tests.conftest import png_bytes

    def user(name):
        return accounts.user_create(
            username=name, email=f"{name}@example.com", password="correct horse battery 9"
        )

    def post(author, prompt, caption, colour, **extra):
        job = GenerationJob.objects.create(
            owner=author,
            kind="image",
            prompt=prompt,
            backend="procedural",
            seed=1,
            status="succeeded",
            params={"width": 8, "height": 8, "quality": "draft", "count": 1},
        )
        asset = asset_create(
            owner=author, data=png_bytes(), mime="image/png", width=8, height=8, job=job
        )
        Asset.objects.filter(id=asset.id).update(placeholder=colour)
        return posts.post_publish(
            author=author, asset_id=asset.id, caption=caption, visibility="public", **extra
        )

    alice, bob, carol = user("alice"), user("bob"), user("carol")
    source = post(alice, "kite over the dunes", "#kites one", "#102030")
    tagged = post(bob, "a bowl of fruit", "#kites two", "#f0f0f0")
    hidden = post(bob, "kite over the dunes", "secret", "#e0e0e0", hide_prompt=True)
    removed = post(bob, "kite over the dunes", "#kites gone", "#d0d0d0")
    Post.objects.filter(id=removed.id).update(removed_at=timezone.now())
    social.follow_create(follower=carol, followee=bob)
    posts.reaction_add(user=carol, post_id=tagged.id, kind="like")

    shelf = collections.collection_create(owner=carol, name="Kites", visibility="public")
    for p in (source, tagged, removed):
        if p is not removed:
            collections.collection_post_add(user=carol, collection_id=shelf.id, post_id=p.id)
    collections.collection_order_set(user=carol, collection_id=shelf.id, post_ids=[tagged.id])
    seen = collections_read.collection_get(collection_id=shelf.id, viewer=alice)
    page = collections_read.collection_posts(
        collection=seen, viewer=alice, params=PageParams(limit=10)
    )
    print(
        json.dumps(
            {
                "similar": [p.id for p in discovery.posts_similar(post_id=source.id, viewer=carol)],
                "creators": [c.user.username for c in discovery.explore_creators(viewer=alice)],
                "tags": discovery.explore_tags(viewer=alice),
                "trending": [p.id for p in discovery.explore_trending(viewer=alice).items],
                "collection": [p.id for p in page.items],
                "count": seen.posts_count,
                "ids": {"source": source.id, "tagged": tagged.id, "hidden": hidden.id},
            }
        )
    )
