"""Reaction counts stay exact when many people (and the same person twice) react at once."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from apps.posts import services
from apps.posts.models import Post, Reaction

pytestmark = pytest.mark.django_db(transaction=True)


def _react(user, post_id, kind, remove=False):
    try:
        if remove:
            services.reaction_remove(user=user, post_id=post_id, kind=kind)
        else:
            services.reaction_add(user=user, post_id=post_id, kind=kind)
    finally:
        connection.close()


def test_concurrent_reactions_count_exactly_once(make_user, publish, api):
    author = make_user()
    post_id = int(publish(author)["id"])
    people = [make_user() for _ in range(12)]
    # Each person likes twice and fires once, all at the same time.
    jobs = [(p, "like") for p in people] * 2 + [(p, "fire") for p in people]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda job: _react(job[0], post_id, job[1]), jobs))
    post = Post.objects.get(id=post_id)
    assert post.like_count == 12 == Reaction.objects.filter(kind="like").count()
    assert post.fire_count == 12 == Reaction.objects.filter(kind="fire").count()

    # Half take their like back while the rest like again: still exact.
    jobs = [(p, "like", True) for p in people[:6]] + [(p, "like", False) for p in people[6:]]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda job: _react(*job[:1], post_id, job[1], job[2]), jobs))
    post.refresh_from_db()
    assert post.like_count == 6 == Reaction.objects.filter(kind="like").count()
    body = api(people[0]).get(f"/api/v1/posts/{post_id}").json()
    assert body["reactions"] == {"like": 6, "love": 0, "haha": 0, "wow": 0, "fire": 12}
    assert body["viewer_reactions"] == ["fire"]
