"""The scene of ``test_sqlite.py``, run inside ``manage.py shell`` on a fresh SQLite database:
a few people and posts, then what each person finds, printed as one JSON line."""


def main() -> None:
    import json

    from django.db import connection
    from django.utils import timezone

    from apps.accounts import services as accounts
    from apps.core.ids import new_id
    from apps.generation.models import GenerationJob
    from apps.media.models import Asset
    from apps.posts.models import Post, PostTag
    from apps.posts.services import trend_base
    from apps.search import selectors, services
    from apps.search.backends import get_backend
    from apps.social import services as social

    assert connection.vendor == "sqlite", connection.vendor

    def user(name, **extra):
        u = accounts.user_create(
            username=name, email=f"{name}@example.com", password="correct horse battery 9"
        )
        for k, v in extra.items():
            setattr(u, k, v)
        u.save()
        return u

    alice, bob, carol, dave = user("alice"), user("bob"), user("carol"), user("dave")

    def post(author, caption, prompt="", **extra):
        job = GenerationJob.objects.create(
            owner=author,
            kind="image",
            prompt=prompt,
            backend="procedural",
            seed=1,
            status="succeeded",
            params={},
        )
        asset = Asset.objects.create(
            owner=author,
            job=job,
            kind="image",
            mime="image/png",
            sha256="0" * 64,
            original="x.png",
            width=8,
            height=8,
            bytes=1,
        )
        pid = new_id()
        p = Post.objects.create(
            id=pid,
            trend_score=trend_base(pid),
            author=author,
            asset=asset,
            caption=caption,
            visibility=extra.pop("visibility", "public"),
            **extra,
        )
        from apps.posts.text import hashtags

        PostTag.objects.bulk_create([PostTag(post=p, tag=t) for t in hashtags(caption)])
        services.post_index(post_id=p.id)
        return p

    out = {"backend": type(get_backend()).__name__}
    hidden = post(alice, "late walk", prompt="obsidian heron", hide_prompt=True)
    caption_match = post(alice, "Heron by the lake #herons")
    prompt_match = post(alice, "blue", prompt="a heron in the reeds")
    followers = post(alice, "heron friends", visibility="followers")
    post(alice, "heron removed", removed_at=timezone.now())
    social.follow_create(follower=bob, followee=alice)
    social.block_create(blocker=alice, blocked=carol)
    social.mute_create(muter=dave, muted=alice)

    def found(viewer, q):
        return [p.id for p in selectors.search_posts(viewer=viewer, q=q, limit=20).items]

    out["ids"] = {
        "hidden": hidden.id,
        "caption": caption_match.id,
        "prompt": prompt_match.id,
        "followers": followers.id,
    }
    out["alice_obsidian"] = found(alice, "obsidian")
    out["bob_obsidian"] = found(bob, "obsidian")
    out["anon_obsidian"] = found(None, "obsidian heron")
    out["bob_heron"] = found(bob, "heron")
    out["anon_heron"] = found(None, "herons")
    out["carol_heron"] = found(carol, "heron")
    out["dave_heron"] = found(dave, "heron")
    out["people_bob_ali"] = [
        u.username for u in selectors.search_people(viewer=bob, q="ali", limit=5).items
    ]
    out["people_carol_ali"] = [
        u.username for u in selectors.search_people(viewer=carol, q="ali", limit=5).items
    ]
    services.tag_counts_refresh()
    out["tags"] = list(selectors.search_tags(viewer=None, q="#her", limit=5).items)
    services.post_unindex(post_id=caption_match.id)
    out["after_unindex"] = found(bob, "lake")
    print("RESULT " + json.dumps(out))
