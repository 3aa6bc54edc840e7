"""The site's pages go through the same services and visibility rule as the API."""

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.posts.models import Reaction
from apps.social.models import Follow

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser() -> Client:
    return Client()


def test_signup_logs_in_and_shows_the_feed(browser):
    response = browser.post(
        "/signup",
        {"username": "erin", "email": "erin@example.com", "password": "a long secret 42"},
        follow=True,
    )
    assert response.status_code == 200
    assert b"@erin" in response.content
    assert User.objects.filter(username="erin").exists()


def test_signup_with_a_taken_name_shows_the_error(browser, alice):
    response = browser.post(
        "/signup", {"username": "Alice", "email": "x@example.com", "password": "a long secret 42"}
    )
    assert response.status_code == 200
    assert b"That username is taken." in response.content
    assert User.objects.count() == 1


def test_login_and_logout(browser, alice):
    response = browser.post(
        "/login", {"username": "alice", "password": "correct horse battery 9"}, follow=True
    )
    assert b"Log out" in response.content
    response = browser.post("/logout", follow=True)
    assert b"Log in" in response.content


def test_create_needs_login(browser, alice):
    assert browser.get("/create").status_code == 302
    browser.force_login(alice)
    page = browser.get("/create")
    assert page.status_code == 200 and b'id="generate-form"' in page.content


def test_feed_tabs_show_what_the_viewer_may_see(browser, alice, bob, publish):
    public = publish(alice, "public", caption="open sky")
    hidden = publish(alice, "followers", caption="for friends")
    page = browser.get("/?tab=public").content.decode()
    assert "open sky" in page and "for friends" not in page
    browser.force_login(bob)
    assert "for friends" not in browser.get("/?tab=home").content.decode()
    assert browser.get(f"/p/{hidden['id']}/card").status_code == 404
    assert browser.get(f"/p/{hidden['id']}").status_code == 404
    Follow.objects.create(follower=bob, followee=alice)
    home = browser.get("/?tab=home").content.decode()
    assert "for friends" in home and "open sky" in home
    cards = browser.get(f"/feed/cards?tab=home&since={public['id']}").content.decode()
    assert "for friends" in cards and "open sky" not in cards


def test_react_and_follow_buttons(browser, alice, bob, publish):
    post = publish(alice)
    browser.force_login(bob)
    response = browser.post(f"/p/{post['id']}/react", {"kind": "like"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b'data-count="like">1<' in response.content
    assert Reaction.objects.filter(user=bob, kind="like").count() == 1
    response = browser.post("/u/alice/follow", {"action": "follow"}, HTTP_HX_REQUEST="true")
    assert b"Following" in response.content
    assert Follow.objects.filter(follower=bob, followee=alice).exists()
    browser.post("/u/alice/follow", {"action": "unfollow"}, HTTP_HX_REQUEST="true")
    assert not Follow.objects.filter(follower=bob, followee=alice).exists()


def test_profile_page(browser, alice, publish):
    publish(alice, caption="dunes at dusk")
    page = browser.get("/u/alice").content.decode()
    assert "@alice" in page and "dunes at dusk" in page
    assert browser.get("/u/nobody").status_code == 404
