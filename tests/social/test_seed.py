"""``manage.py seed``: consistent data, quickly (the small scale, with two pictures)."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum

from apps.accounts.models import User
from apps.posts.models import REACTION_KINDS, Comment, Post, PostTag, Reaction
from apps.social.models import Follow

pytestmark = pytest.mark.django_db


def test_small_seed_is_consistent_and_browsable(api, settings):
    call_command("seed", scale="small", images=2, stdout=io.StringIO())
    assert User.objects.count() == 24
    assert Post.objects.count() == 240
    assert Follow.objects.filter(follower__username="demo").count() == 15
    # Every denormalised count matches the rows it counts.
    totals = Post.objects.aggregate(**{k: Sum(f"{k}_count") for k in REACTION_KINDS})
    for kind in REACTION_KINDS:
        assert totals[kind] == Reaction.objects.filter(kind=kind).count()
    assert Post.objects.aggregate(n=Sum("comments_count"))["n"] == Comment.objects.count()
    remixes = Post.objects.filter(remix_of__isnull=False).values("remix_of").annotate(n=Count("id"))
    for row in remixes:
        assert Post.objects.get(id=row["remix_of"]).remix_count == row["n"]
    assert PostTag.objects.exists()

    demo = User.objects.get(username="demo")
    assert demo.check_password("vivid-demo-2026")
    home = api(demo).get("/api/v1/feed/home").json()["items"]
    assert home and all(i["author"]["username"] != "bench" for i in home)
    assert len(api(None).get("/api/v1/feed/public?sort=trending").json()["items"]) == 20
    # Seeded posts can be searched like published ones.
    tag = PostTag.objects.filter(post__visibility="public").values_list("tag", flat=True)[0]
    found = api(None).get(f"/api/v1/search?type=posts&q={tag}").json()["items"]
    assert found and all(tag in (i["caption"] or "").lower() for i in found[:5])

    with pytest.raises(CommandError):
        call_command("seed", scale="small")  # not on top of existing users
