"""Alt text: written when publishing, edited later by the author alone, bounded, in every answer
that carries a post, offered from the prompt to the creator only, never a hidden prompt."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client

from apps.generation import services as generation
from apps.generation.models import GenerationJob
from apps.posts.alt import ALT_TEXT_MAX
from apps.posts.models import Post
from apps.posts.serializers import rows_cover_serializers
from apps.social import services as social

pytestmark = pytest.mark.django_db

ALT = "A lighthouse on a cliff at dawn, painted in soft watercolour"
# Distinctive words: any of them in a viewer's page is the hidden prompt leaking.
SECRET = "quillowrath bramblefjord lighthouse at dawn, watercolor"
SECRET_WORDS = ("quillowrath", "bramblefjord")


class Media(HTMLParser):
    """Every <img> and <video> of a page with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict] = []
        self.videos: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs))
        elif tag == "video":
            self.videos.append(dict(attrs))


def media_of(html: str) -> Media:
    parser = Media()
    parser.feed(html)
    return parser


def site(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def generated_asset(api, user, prompt: str):
    """An image made by a real (draft) generation, so it has a prompt."""
    response = api(user).post(
        "/api/v1/generations",
        {"kind": "image", "prompt": prompt, "quality": "draft", "seed": 7},
        format="json",
    )
    assert response.status_code == 202, response.content
    job_id = int(response.json()["id"])
    generation.job_run(job_id=job_id)
    job = GenerationJob.objects.get(id=job_id)
    assert job.status == "succeeded", job.error
    return job.assets.get()


def publish(api, user, asset, **extra) -> dict:
    body = {"asset_id": str(asset.id), "caption": "look", "visibility": "public", **extra}
    response = api(user).post("/api/v1/posts", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


# --- writing it ------------------------------------------------------------------------------


def test_alt_text_set_when_publishing_is_in_the_answer_and_on_the_page(api, alice, make_asset):
    post = publish(api, alice, make_asset(alice), alt_text=f"  {ALT}\r\n")
    assert post["alt_text"] == ALT  # trimmed, line endings made plain
    assert api(alice).get(f"/api/v1/posts/{post['id']}").json()["alt_text"] == ALT
    page = site().get(f"/p/{post['id']}")
    assert page.status_code == 200
    assert [img["alt"] for img in media_of(page.content.decode()).imgs][:1] == [ALT]


def test_omitted_alt_text_is_empty(api, alice, make_asset):
    post = publish(api, alice, make_asset(alice))
    assert post["alt_text"] == ""


def test_the_author_edits_and_clears_it(api, alice, make_asset):
    post = publish(api, alice, make_asset(alice), hide_prompt=True)
    client = api(alice)
    response = client.patch(f"/api/v1/posts/{post['id']}", {"alt_text": ALT}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["alt_text"] == ALT
    assert response.json()["hide_prompt"] is True  # nothing else changed
    assert Post.objects.get(id=post["id"]).alt_text == ALT
    cleared = client.patch(f"/api/v1/posts/{post['id']}", {"alt_text": ""}, format="json")
    assert cleared.status_code == 200 and cleared.json()["alt_text"] == ""
    # Fields not open to change are left as they were.
    other = client.patch(f"/api/v1/posts/{post['id']}", {"caption": "changed"}, format="json")
    assert other.status_code == 200 and other.json()["caption"] == "look"


def test_others_cannot_change_it_as_they_cannot_delete(api, alice, bob, carol, make_asset, anon):
    public = publish(api, alice, make_asset(alice), alt_text=ALT)
    private = publish(api, alice, make_asset(alice), alt_text=ALT, visibility="private")
    # Bob sees the public post but did not write it: forbidden, as DELETE answers him.
    response = api(bob).patch(f"/api/v1/posts/{public['id']}", {"alt_text": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert api(bob).delete(f"/api/v1/posts/{public['id']}").status_code == 403
    # A post carol cannot see answers as if it did not exist.
    response = api(carol).patch(f"/api/v1/posts/{private['id']}", {"alt_text": "x"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert anon.patch(
        f"/api/v1/posts/{public['id']}", {"alt_text": "x"}, format="json"
    ).status_code in (
        401,
        403,
    )
    assert set(Post.objects.filter(author=alice).values_list("alt_text", flat=True)) == {ALT}


@pytest.mark.parametrize(
    "bad",
    ["x" * (ALT_TEXT_MAX + 1), "a bell\x07rings", "nul\x00byte", "escape \x1b[31mred", "del\x7f"],
    ids=["too-long", "bell", "nul", "escape", "del"],
)
def test_bad_alt_text_is_refused_and_nothing_is_lost(api, alice, make_asset, bad):
    asset = make_asset(alice)
    body = {"asset_id": str(asset.id), "visibility": "public", "alt_text": bad}
    response = api(alice).post("/api/v1/posts", body, format="json")
    assert response.status_code == 400, response.content
    assert "alt_text" in response.json()["error"]["fields"]
    assert not Post.objects.filter(asset=asset).exists()

    post = publish(api, alice, make_asset(alice), alt_text=ALT)
    response = api(alice).patch(f"/api/v1/posts/{post['id']}", {"alt_text": bad}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"
    assert "alt_text" in response.json()["error"]["fields"]
    assert Post.objects.get(id=post["id"]).alt_text == ALT


def test_the_longest_alt_text_and_line_breaks_are_kept(api, alice, make_asset):
    longest = "y" * ALT_TEXT_MAX
    assert publish(api, alice, make_asset(alice), alt_text=longest)["alt_text"] == longest
    two_lines = "A harbour at night.\nTwo boats, one lit."
    assert publish(api, alice, make_asset(alice), alt_text=two_lines)["alt_text"] == two_lines


# --- every answer that carries a post ---------------------------------------------------------


def test_every_serialiser_path_carries_it(api, alice, bob, make_asset, anon):
    social.follow_create(follower=bob, followee=alice)
    post = publish(api, alice, make_asset(alice), alt_text=ALT, caption="dawn #harbourlight")
    remix = publish(api, bob, make_asset(bob), alt_text="Bob's take", remix_of=post["id"])
    assert rows_cover_serializers(), "the home feed's fast rows must carry alt_text too"

    def alt_in(url, client, post_id=post["id"]):
        response = client.get(url)
        assert response.status_code == 200, (url, response.content)
        items = response.json()["items"]
        found = [item["alt_text"] for item in items if item["id"] == str(post_id)]
        assert found, f"{url} does not list the post"
        return found[0]

    b = api(bob)
    assert b.get(f"/api/v1/posts/{post['id']}").json()["alt_text"] == ALT
    assert alt_in("/api/v1/feed/home", b) == ALT  # the fast rows path
    assert alt_in("/api/v1/feed/home", b, remix["id"]) == "Bob's take"
    assert alt_in("/api/v1/feed/public", anon) == ALT
    assert alt_in("/api/v1/feed/public?sort=trending", anon) == ALT
    assert alt_in("/api/v1/users/alice/posts", anon) == ALT
    assert alt_in("/api/v1/tags/harbourlight/posts", anon) == ALT
    assert alt_in(f"/api/v1/posts/{post['id']}/remixes", anon, remix["id"]) == "Bob's take"

    # Search and collections build their items with the same fast JSON.
    from apps.collections import services as collections

    saved = collections.collection_create(owner=bob, name="Lights")
    collections.collection_post_add(user=bob, collection_id=saved.id, post_id=int(post["id"]))
    assert alt_in(f"/api/v1/collections/{saved.id}", b) == ALT
    assert alt_in("/api/v1/search?q=harbourlight&type=posts", anon) == ALT


# --- the description offered from the prompt -------------------------------------------------


def test_the_suggestion_is_offered_to_the_creator_alone(api, alice, bob, anon):
    asset = generated_asset(api, alice, SECRET)
    mine = api(alice).get(f"/api/v1/assets/{asset.id}/alt-suggestion")
    assert mine.status_code == 200, mine.content
    assert mine.json() == {"asset_id": str(asset.id), "suggestion": f"AI-generated image: {SECRET}"}
    theirs = api(bob).get(f"/api/v1/assets/{asset.id}/alt-suggestion")
    assert theirs.status_code == 404
    assert not any(w in theirs.content.decode() for w in SECRET_WORDS)
    assert anon.get(f"/api/v1/assets/{asset.id}/alt-suggestion").status_code in (401, 403)

    # Published with empty alt text: the author's page offers the sentence, and adopts it.
    post = publish(api, alice, asset)
    page = site(alice).get(f"/p/{post['id']}").content.decode()
    assert f"AI-generated image: {SECRET}" in page
    response = site(alice).post(f"/p/{post['id']}/alt", {"alt_text": "", "use_suggestion": "1"})
    assert response.status_code == 302
    assert Post.objects.get(id=post["id"]).alt_text == f"AI-generated image: {SECRET}"


def test_the_publish_forms_have_an_alt_text_box(alice):
    assert 'name="alt_text"' in site(alice).get("/create").content.decode()


# --- the page's form ---------------------------------------------------------------------------


def test_the_author_edits_it_on_the_post_page(api, alice, bob, make_asset):
    post = publish(api, alice, make_asset(alice))
    page = site(alice).get(f"/p/{post['id']}").content.decode()
    assert 'data-testid="alt-form"' in page
    assert 'data-testid="alt-form"' not in site(bob).get(f"/p/{post['id']}").content.decode()

    saved = site(alice).post(f"/p/{post['id']}/alt", {"alt_text": ALT})
    assert saved.status_code == 302
    assert Post.objects.get(id=post["id"]).alt_text == ALT
    page = site(bob).get(f"/p/{post['id']}").content.decode()
    assert media_of(page).imgs[0]["alt"] == ALT

    too_long = "z" * (ALT_TEXT_MAX + 1)
    refused = site(alice).post(f"/p/{post['id']}/alt", {"alt_text": too_long})
    assert refused.status_code == 400
    body = refused.content.decode()
    assert f"no more than {ALT_TEXT_MAX} characters" in body
    assert too_long in body  # the draft is kept for fixing
    assert Post.objects.get(id=post["id"]).alt_text == ALT

    # Someone else's post: not found, and nothing changes.
    assert site(bob).post(f"/p/{post['id']}/alt", {"alt_text": "mine now"}).status_code == 404
    assert Post.objects.get(id=post["id"]).alt_text == ALT


# --- never the hidden prompt --------------------------------------------------------------------


def test_viewers_never_get_the_prompt_as_alt(api, alice, bob, carol, make_user):
    social.follow_create(follower=bob, followee=alice)
    hidden = publish(
        api, alice, generated_asset(api, alice, SECRET), hide_prompt=True, caption="#fjordlight"
    )
    shown = publish(api, alice, generated_asset(api, alice, "a plain red kite above dunes"))
    generic = "AI-generated image by @alice"
    pages = [
        f"/p/{hidden['id']}",
        f"/p/{hidden['id']}/card",
        f"/p/{shown['id']}",
        "/?tab=public",
        "/?tab=home",
        "/feed/cards?tab=public",
        "/u/alice",
        "/tags/fjordlight",
    ]
    for viewer in (bob, carol, None):
        for url in pages:
            response = site(viewer).get(url)
            if response.status_code == 404 and url == "/?tab=home":
                continue
            assert response.status_code == 200, (url, response.status_code)
            html = response.content.decode()
            assert not any(w in html.lower() for w in SECRET_WORDS), f"{url} leaks the prompt"
            alts = [img.get("alt") for img in media_of(html).imgs]
            if url.startswith("/p/"):
                assert alts[0] == generic, (url, alts)
            # Decided: an empty alt never falls back to the prompt, not even a public one.
            assert "red kite" not in " ".join(a or "" for a in alts), url
    # The control: the creator's own page shows her prompt (the scan would see a leak).
    assert "quillowrath" in site(alice).get(f"/p/{hidden['id']}").content.decode()


def test_alt_text_may_not_repeat_a_hidden_prompt(api, alice, bob):
    asset = generated_asset(api, alice, SECRET)
    suggestion = f"AI-generated image: {SECRET}"
    body = {"asset_id": str(asset.id), "visibility": "public", "hide_prompt": True}
    # Publishing with the prompt hidden and the suggestion (or a reworded copy) as alt: refused.
    for alt in (suggestion, f"{SECRET.upper()}, pink sky"):
        response = api(alice).post("/api/v1/posts", {**body, "alt_text": alt}, format="json")
        assert response.status_code == 400, response.content
        assert "alt_text" in response.json()["error"]["fields"]
    assert not Post.objects.filter(asset=asset).exists()

    # Public prompt, suggestion adopted: allowed. Hiding the prompt later clears that alt text.
    post = publish(api, alice, asset, alt_text=suggestion)
    assert post["alt_text"] == suggestion
    hidden = api(alice).patch(f"/api/v1/posts/{post['id']}", {"hide_prompt": True}, format="json")
    assert hidden.status_code == 200
    assert hidden.json()["alt_text"] == ""
    page = site(bob).get(f"/p/{post['id']}").content.decode()
    assert not any(w in page.lower() for w in SECRET_WORDS)
    assert media_of(page).imgs[0]["alt"] == "AI-generated image by @alice"
    # And it cannot be put back while hidden; other words can.
    again = api(alice).patch(f"/api/v1/posts/{post['id']}", {"alt_text": suggestion}, format="json")
    assert again.status_code == 400
    fine = api(alice).patch(f"/api/v1/posts/{post['id']}", {"alt_text": ALT}, format="json")
    assert fine.status_code == 200 and fine.json()["alt_text"] == ALT


def test_hiding_the_prompt_on_the_page_tells_the_author_the_alt_was_cleared(api, alice, bob):
    asset = generated_asset(api, alice, SECRET)
    post = publish(api, alice, asset, alt_text=f"AI-generated image: {SECRET}")
    response = site(alice).post(f"/p/{post['id']}/prompt", {"hide": "1"}, follow=True)
    assert response.status_code == 200
    assert "alt text repeated the prompt" in response.content.decode()
    assert Post.objects.get(id=post["id"]).alt_text == ""
    page = site(bob).get(f"/p/{post['id']}").content.decode()
    assert not any(w in page.lower() for w in SECRET_WORDS)


def test_no_suggestion_on_the_page_while_the_prompt_is_hidden(api, alice):
    post = publish(api, alice, generated_asset(api, alice, SECRET), hide_prompt=True)
    page = site(alice).get(f"/p/{post['id']}").content.decode()
    assert 'data-testid="alt-form"' in page and 'data-testid="alt-suggestion"' not in page
    refused = site(alice).post(
        f"/p/{post['id']}/alt", {"alt_text": f"AI-generated image: {SECRET}"}
    )
    assert refused.status_code == 400
    assert "hidden prompt" in refused.content.decode()
    assert Post.objects.get(id=post["id"]).alt_text == ""


def test_what_counts_as_repeating_the_prompt():
    from apps.posts.alt import alt_suggestion, quotes_prompt

    assert quotes_prompt(f"AI-generated image: {SECRET}", SECRET)
    assert quotes_prompt(f"  {SECRET.upper()}  ", SECRET)
    assert not quotes_prompt("A lighthouse on a cliff", SECRET)
    assert quotes_prompt("AI-generated image: red cat", "red cat")
    assert not quotes_prompt("A red cat asleep on a mat", "red cat")  # short: only all of it
    long_prompt = " ".join(f"quillowrath{i} over bramblefjord" for i in range(40))

    class Job:
        prompt = long_prompt

    class Asset:
        kind, job = "image", Job()

    cut = alt_suggestion(asset=Asset())
    assert cut.endswith("…") and len(cut) < len(long_prompt)
    assert quotes_prompt(cut, long_prompt)  # the suggestion cut short still repeats it
    assert quotes_prompt("a picture of " + long_prompt[100:160] + " at night", long_prompt)


def test_hiding_a_prompt_clears_its_quotes_on_the_authors_other_posts(api, alice, bob):
    suggestion = f"AI-generated image: {SECRET}"
    first = publish(api, alice, generated_asset(api, alice, SECRET), alt_text=suggestion)
    second = publish(api, alice, generated_asset(api, alice, SECRET), alt_text=suggestion)
    other = publish(api, alice, generated_asset(api, alice, "a red kite"), alt_text=ALT)
    response = api(alice).patch(
        f"/api/v1/posts/{first['id']}", {"hide_prompt": True}, format="json"
    )
    assert response.status_code == 200
    assert Post.objects.get(id=second["id"]).alt_text == ""  # same prompt, hidden there now
    assert Post.objects.get(id=other["id"]).alt_text == ALT
    page = site(bob).get(f"/p/{second['id']}").content.decode()
    assert not any(w in page.lower() for w in SECRET_WORDS)
    # While hidden on one post, the same prompt may not come back as alt text on another.
    again = api(alice).patch(
        f"/api/v1/posts/{second['id']}", {"alt_text": suggestion}, format="json"
    )
    assert again.status_code == 400
