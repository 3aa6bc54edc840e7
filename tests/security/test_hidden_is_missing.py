"""A post one may not see answers byte for byte like a post that never existed: followers-only
to a stranger, private, removed by moderators, and by a suspended author; on the API, on the
post page, its card partial, its comments, and the media files of its asset."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts import services as account_services
from apps.moderation import actions, cases
from apps.moderation.models import Case
from apps.moderation.roles import role_set
from tests.conftest import client_for
from tests.security.conftest import per_response_values_out

pytestmark = pytest.mark.django_db

HEADERS = (
    "Content-Type",
    "Content-Length",
    "Cache-Control",
    "Vary",
    "X-Content-Type-Options",
    "Content-Disposition",
    "Location",
    "Retry-After",
    "ETag",
    "Last-Modified",
)


def _answer(response, *asked: str) -> tuple:
    """What a client can compare. The ids it asked for itself (echoed back in, e.g., the
    language form's ``next``) are masked: they are the client's own input, and the missing ids
    have as many digits, so lengths still compare exactly."""
    body = response.content if not response.streaming else b"".join(response.streaming_content)
    body = per_response_values_out(body)
    for value in asked:
        body = body.replace(value.encode(), b"<asked>")
    headers = {}
    for name in HEADERS:
        value = response.get(name)
        if value is not None:
            headers[name] = value
    csp = response.get("Content-Security-Policy") or response.get(
        "Content-Security-Policy-Report-Only"
    )
    if csp:
        headers["csp"] = per_response_values_out(csp.encode())
    return response.status_code, headers, body


def _missing_like(real: str) -> str:
    """An id of the same length as ``real`` that no post or asset has."""
    from apps.media.models import Asset
    from apps.posts.models import Post

    candidate = int(real)
    while Post.objects.filter(id=candidate).exists() or Asset.objects.filter(id=candidate).exists():
        candidate += 1
    assert str(candidate) != real
    return str(candidate)


def _hide(how: str, author, post: dict, moderator, reporter) -> None:
    if how == "removed":
        cases.report_create(
            reporter=reporter, target_type="post", target_id=post["id"], reason="spam"
        )
        case = Case.objects.get(target_id=int(post["id"]))
        actions.action_take(
            moderator=moderator, case_id=case.id, action="remove", reason_code="spam"
        )
    elif how == "suspended":
        account_services.user_suspend(user=author)


HOW = {
    "followers-only": "followers",
    "private": "private",
    "removed": "public",
    "suspended": "public",
}


@pytest.mark.parametrize("viewer", ["anonymous", "stranger"])
@pytest.mark.parametrize("how", list(HOW))
def test_hidden_post_answers_exactly_like_a_missing_one(make_user, publish, how, viewer):
    alice, bob, carol, mod = (make_user(n) for n in ("alice", "bob", "carol", "mod"))
    role_set(user=mod, role="moderator")
    post = publish(alice, visibility=HOW[how], caption="hidden #secret")
    asset_id = post["asset"]["id"]
    _hide(how, alice, post, mod, carol)

    api = client_for(bob) if viewer == "stranger" else client_for(None)
    site = Client()
    if viewer == "stranger":
        site.force_login(bob)
    reads = [
        (api, "/api/v1/posts/{post}"),
        (api, "/api/v1/posts/{post}/comments"),
        (api, "/api/v1/posts/{post}/remixes"),
        (api, "/api/v1/assets/{asset}"),
        (site, "/p/{post}"),
        (site, "/p/{post}/card"),
        (site, "/p/{post}/comments"),
        (site, "/media/assets/{asset}/original"),
        (site, "/media/assets/{asset}/thumb"),
        (site, "/media/assets/{asset}/preview"),
    ]
    if viewer == "stranger":
        reads.append((api, "/api/v1/posts/{post}/reactions/like"))
    gone_post, gone_asset = _missing_like(post["id"]), _missing_like(asset_id)
    for client, path in reads:
        call = client.delete if path.endswith("/reactions/like") else client.get
        hidden = call(path.format(post=post["id"], asset=asset_id))
        missing = call(path.format(post=gone_post, asset=gone_asset))
        # Anonymous callers of the assets API are asked to authenticate, whatever the id.
        expected = 401 if (viewer, path) == ("anonymous", "/api/v1/assets/{asset}") else 404
        assert hidden.status_code == expected, (path, hidden.status_code)
        assert _answer(hidden, post["id"], asset_id) == _answer(missing, gone_post, gone_asset), (
            path
        )


def test_the_author_still_sees_a_followers_only_post(make_user, publish):
    """The control: the same reads do show the post to someone allowed to see it."""
    alice = make_user("alice")
    post = publish(alice, visibility="followers")
    assert client_for(alice).get(f"/api/v1/posts/{post['id']}").status_code == 200
    site = Client()
    site.force_login(alice)
    assert site.get(f"/p/{post['id']}").status_code == 200
    assert site.get(f"/media/assets/{post['asset']['id']}/original").status_code == 200
