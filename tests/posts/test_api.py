import pytest
from django.core.files.storage import default_storage

from apps.posts.models import Post, Reaction
from tests.accounts.test_api import assert_error

pytestmark = pytest.mark.django_db


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def test_publish_shows_the_post_with_its_asset(api, alice, publish):
    post = publish(alice, caption="first light")
    assert post["author"]["username"] == "alice"
    assert post["caption"] == "first light" and post["visibility"] == "public"
    assert post["reactions"] == {"like": 0, "love": 0, "haha": 0, "wow": 0, "fire": 0}
    assert "ai_generated" in post["labels"]
    assert post["cursor"] == post["id"]
    original = api(alice).get(post["asset"]["original_url"])
    assert original.status_code == 200


def test_publishing_someone_elses_asset_is_refused(api, alice, bob, make_asset):
    asset = make_asset(alice)
    response = api(bob).post(
        "/api/v1/posts", {"asset_id": asset.id, "visibility": "public"}, format="json"
    )
    assert_error(response, 404, "not_found")
    assert not Post.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"visibility": "public"},
        {"asset_id": "abc", "visibility": "public"},
        {"asset_id": 1, "visibility": "everyone"},
        {"asset_id": 1, "visibility": "public", "caption": "x" * 2201},
    ],
)
def test_bad_publish_requests_are_field_errors(api, alice, body):
    assert_error(api(alice).post("/api/v1/posts", body, format="json"), 400, "invalid")
    assert not Post.objects.exists()


def test_public_feed_and_followers_home_feeds(api, alice, bob, carol, publish):
    api(bob).post("/api/v1/users/alice/follow")
    public = publish(alice, "public")
    followers_only = publish(alice, "followers")
    private = publish(alice, "private")

    assert ids(api(None).get("/api/v1/feed/public")) == [public["id"]]
    assert ids(api(bob).get("/api/v1/feed/home")) == [followers_only["id"], public["id"]]
    assert ids(api(carol).get("/api/v1/feed/home")) == []
    assert ids(api(alice).get("/api/v1/feed/home")) == [
        private["id"],
        followers_only["id"],
        public["id"],
    ]
    # A post one may not see answers exactly like one that does not exist.
    assert_error(api(carol).get(f"/api/v1/posts/{followers_only['id']}"), 404, "not_found")
    assert_error(api(bob).get(f"/api/v1/posts/{private['id']}"), 404, "not_found")
    assert_error(api(carol).get("/api/v1/posts/123456789"), 404, "not_found")
    # and so does its media
    url = followers_only["asset"]["original_url"]
    assert api(carol).get(url).status_code == 404
    assert api(bob).get(url).status_code == 200


def test_unfollowing_hides_followers_only_posts(api, alice, bob, publish):
    api(bob).post("/api/v1/users/alice/follow")
    post = publish(alice, "followers")
    assert ids(api(bob).get("/api/v1/feed/home")) == [post["id"]]
    assert api(bob).delete("/api/v1/users/alice/follow").json() == {"state": "none"}
    assert ids(api(bob).get("/api/v1/feed/home")) == []
    assert_error(api(bob).get(f"/api/v1/posts/{post['id']}"), 404, "not_found")


def test_follow_is_idempotent_and_self_follow_refused(api, alice, bob):
    assert api(bob).post("/api/v1/users/alice/follow").json() == {"state": "following"}
    assert api(bob).post("/api/v1/users/alice/follow").json() == {"state": "following"}
    assert api(None).get("/api/v1/users/alice").json()["followers_count"] == 1
    assert_error(api(alice).post("/api/v1/users/alice/follow"), 400, "invalid")
    assert_error(api(alice).post("/api/v1/users/nobody/follow"), 404, "not_found")


def test_pagination_with_cursor_and_since(api, alice, publish):
    posts = [publish(alice)["id"] for _ in range(5)]
    client = api(alice)
    first = client.get("/api/v1/feed/public?limit=2").json()
    assert [p["id"] for p in first["items"]] == [posts[4], posts[3]]
    second = client.get(f"/api/v1/feed/public?limit=2&cursor={first['next_cursor']}").json()
    assert [p["id"] for p in second["items"]] == [posts[2], posts[1]]
    newer = client.get(f"/api/v1/feed/public?since={posts[2]}").json()
    assert [p["id"] for p in newer["items"]] == [posts[4], posts[3]]
    assert newer["next_cursor"] is None
    assert_error(client.get("/api/v1/feed/public?limit=0"), 400, "invalid")
    assert_error(client.get("/api/v1/feed/public?cursor=abc"), 400, "invalid")


def test_reactions_count_once_per_kind_and_undo(api, alice, bob, publish):
    post = publish(alice)
    url = f"/api/v1/posts/{post['id']}/reactions"
    first = api(bob).post(url, {"kind": "like"}, format="json").json()
    assert first["reactions"]["like"] == 1 and first["viewer_reactions"] == ["like"]
    again = api(bob).post(url, {"kind": "like"}, format="json").json()
    assert again["reactions"]["like"] == 1
    api(alice).post(url, {"kind": "fire"}, format="json")
    body = api(bob).get(f"/api/v1/posts/{post['id']}").json()
    assert body["reactions"]["like"] == 1 and body["reactions"]["fire"] == 1
    assert body["viewer_reactions"] == ["like"]
    undone = api(bob).delete(f"{url}/like").json()
    assert undone["reactions"]["like"] == 0 and undone["viewer_reactions"] == []
    assert_error(api(bob).post(url, {"kind": "meh"}, format="json"), 400, "invalid")


def test_reacting_to_a_post_one_may_not_see_is_not_found(api, alice, bob, publish):
    post = publish(alice, "followers")
    url = f"/api/v1/posts/{post['id']}/reactions"
    assert_error(api(bob).post(url, {"kind": "like"}, format="json"), 404, "not_found")
    assert not Reaction.objects.exists()
    assert Post.objects.get(id=post["id"]).like_count == 0


def test_only_the_author_deletes_and_media_goes_with_it(api, alice, bob, publish):
    post = publish(alice)
    assert_error(api(bob).delete(f"/api/v1/posts/{post['id']}"), 403, "forbidden")
    assert api(alice).delete(f"/api/v1/posts/{post['id']}").status_code == 204
    assert_error(api(bob).get(f"/api/v1/posts/{post['id']}"), 404, "not_found")
    assert api(bob).get(post["asset"]["original_url"]).status_code == 404
    assert default_storage.exists(Post.asset.field.related_model.objects.get().original)
