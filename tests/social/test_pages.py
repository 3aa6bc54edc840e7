"""The site: every social capability also works in the pages."""

import pytest
from django.test import Client

from apps.social.models import Block, Follow, Mute

pytestmark = pytest.mark.django_db


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_privacy_settings_and_follow_requests(alice, bob):
    page = browser(alice)
    assert page.get("/settings/privacy").status_code == 200
    page.post("/settings/privacy", {"is_private": "on", "sensitive_media": "hide"})
    alice.refresh_from_db()
    assert alice.is_private and alice.sensitive_media == "hide"

    profile = browser(bob).get("/u/alice").content.decode()
    assert "Ask to follow" in profile and "This account is private" in profile
    browser(bob).post("/u/alice/follow", {"action": "follow"})
    assert "Requested" in browser(bob).get("/u/alice").content.decode()
    settings_page = page.get("/settings/privacy").content.decode()
    assert "@bob" in settings_page
    page.post("/settings/requests/bob", {"action": "approve"})
    assert Follow.objects.filter(follower=bob, followee=alice).exists()
    assert "Following" in browser(bob).get("/u/alice").content.decode()


def test_block_and_mute_from_the_profile(alice, bob, publish):
    post = publish(bob)
    page = browser(alice)
    page.post("/u/bob/mute", {"action": "mute"})
    assert Mute.objects.filter(muter=alice, muted=bob).exists()
    assert post["id"] not in page.get("/?tab=public").content.decode()
    assert "Unmute" in page.get("/u/bob").content.decode()
    page.post("/u/bob/block", {"action": "block"})
    assert Block.objects.filter(blocker=alice, blocked=bob).exists()
    assert page.get("/u/bob").status_code == 404
    assert browser(bob).get("/u/alice").status_code == 404
    assert browser(bob).get(f"/p/{post['id']}").status_code == 200  # his own
    assert "@bob" in page.get("/settings/privacy").content.decode()
    # The follow button answers like a missing account across a block.
    assert browser(bob).post("/u/alice/follow", {"action": "follow"}).status_code == 404
    page.post("/u/bob/block", {"action": "unblock"})
    assert not Block.objects.exists()


def test_notifications_page_coalesces_and_marks_read(api, make_user, alice, publish):
    post = publish(alice)
    for i in range(3):
        api(make_user(f"fan{i}")).post(
            f"/api/v1/posts/{post['id']}/reactions", {"kind": "like"}, format="json"
        )
    page = browser(alice)
    assert 'data-unread="1"' in page.get("/").content.decode()
    html = page.get("/notifications").content.decode()
    assert "fan2 and 2 others reacted to your post" in html
    assert 'data-unread="0"' in page.get("/").content.decode()


def test_comments_on_the_post_page(alice, bob, publish):
    post = publish(alice)
    page = browser(bob)
    page.post(f"/p/{post['id']}/comment", {"body": "<b>hi</b> #sunset @alice"})
    html = browser().get(f"/p/{post['id']}").content.decode()
    assert "&lt;b&gt;hi&lt;/b&gt;" in html and "<b>hi</b>" not in html
    assert 'href="/tags/sunset"' in html and 'href="/u/alice"' in html
    comment_id = html.split('id="comment-')[1].split('"')[0]
    browser(alice).post(f"/p/{post['id']}/comments/{comment_id}/delete")
    assert "No comments yet." in browser().get(f"/p/{post['id']}").content.decode()


def test_captions_link_tags_and_mentions_and_tag_pages(alice, bob, publish):
    post = publish(alice, caption="Dawn over the <lake> #Sunset with @bob")
    html = browser().get("/?tab=public").content.decode()
    assert "&lt;lake&gt;" in html
    assert '<a class="tag" href="/tags/sunset">#Sunset</a>' in html
    assert '<a class="mention" href="/u/bob">@bob</a>' in html
    tag_page = browser().get("/tags/sunset").content.decode()
    assert f'id="post-{post["id"]}"' in tag_page
    assert f'id="post-{post["id"]}"' not in browser().get("/tags/other").content.decode()
    assert browser().get("/?tab=trending").status_code == 200
    assert f'id="post-{post["id"]}"' in browser().get("/?tab=trending").content.decode()


def test_sensitive_posts_blur_or_hide_per_viewer(make_user, alice, publish):
    post = publish(alice, sensitive=True)
    card = f'id="post-{post["id"]}"'
    assert "sensitive-blur" in browser().get("/?tab=public").content.decode()
    shower = make_user(sensitive_media="show")
    html = browser(shower).get("/?tab=public").content.decode()
    assert card in html and "sensitive-veil" not in html
    hider = make_user(sensitive_media="hide")
    assert card not in browser(hider).get("/?tab=public").content.decode()
    # the author always sees their own
    assert card in browser(alice).get("/?tab=public").content.decode()
