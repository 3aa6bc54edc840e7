"""The remix family: ancestors and descendants, what changed at each step, and what stays hidden."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.provenance.lineage import prompt_diff
from apps.provenance.selectors import record_for_asset

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(alice, bob, carol, made, post_of):
    """alice's fox; bob's remix of it; bob's private upscale of his remix; carol's private
    remix of bob's; carol's public remix of bob's with its prompt hidden."""
    fox = made(alice, "a red fox in snow", seed=1)
    fox_post = post_of(alice, fox)
    night = made(bob, "a red fox in deep snow at night", seed=2, remix_of=fox_post["id"])
    night_post = post_of(bob, night)
    bigger = made(bob, "a red fox in deep snow at night", op="upscale", inputs=[night])
    private = made(carol, "carol's private fox", seed=3, remix_of=night_post["id"])
    post_of(carol, private, visibility="private")
    secret = made(carol, "carol's secret words", seed=4, remix_of=night_post["id"])
    secret_post = post_of(carol, secret, hide_prompt=True)
    assets = {
        "fox": fox,
        "night": night,
        "bigger": bigger,
        "private": private,
        "secret": secret,
    }
    records = {name: record_for_asset(asset=a) for name, a in assets.items()}
    return {
        "records": records,
        "posts": {"fox": fox_post, "night": night_post, "secret": secret_post},
    }


def lineage_of(client, record):
    response = client.get(f"/api/v1/provenance/{record.id}/lineage")
    assert response.status_code == 200, response.content
    return response


def by_relation(nodes, relation):
    return [n for n in nodes if n["relation"] == relation]


def test_word_diff():
    assert prompt_diff("a red fox in snow", "a red fox in deep snow at night") == [
        {"op": "equal", "text": "a red fox in"},
        {"op": "insert", "text": "deep"},
        {"op": "equal", "text": "snow"},
        {"op": "insert", "text": "at night"},
    ]
    assert prompt_diff("a cat", "a dog") == [
        {"op": "equal", "text": "a"},
        {"op": "delete", "text": "cat"},
        {"op": "insert", "text": "dog"},
    ]


def test_family_as_a_stranger_sees_it(api, make_user, family):
    records = family["records"]
    response = lineage_of(api(make_user("dave")), records["night"])
    body = response.json()
    nodes = body["nodes"]
    assert body["id"] == str(records["night"].id) and body["truncated"] is False
    (fox,) = by_relation(nodes, "ancestor")
    (night,) = by_relation(nodes, "self")
    descendants = by_relation(nodes, "descendant")
    assert fox["id"] == str(records["fox"].id) and fox["depth"] == -1
    assert fox["post_id"] == family["posts"]["fox"]["id"]
    assert night["parents"] == [fox["key"]] and night["depth"] == 0
    assert night["changes"]["from"] == fox["key"]
    assert night["changes"]["prompt"] == prompt_diff(
        "a red fox in snow", "a red fox in deep snow at night"
    )
    assert night["changes"]["seed"] == {"from": 1, "to": 2}
    # Three children of bob's remix: his private upscale and carol's private remix stay bare
    # placeholders; carol's public remix shows, without its prompt.
    assert len(descendants) == 3
    hidden = [n for n in descendants if n["hidden"]]
    assert len(hidden) == 2
    for node in hidden:
        assert set(node) == {"key", "relation", "depth", "hidden", "parents"}
        assert node["parents"] == [night["key"]] and node["depth"] == 1
    (secret,) = [n for n in descendants if not n["hidden"]]
    assert secret["id"] == str(records["secret"].id)
    assert secret["prompt"] is None and secret["prompt_hidden"] is True
    assert secret["changes"]["prompt"] is None and secret["changes"]["seed"] == {"from": 2, "to": 4}
    text = response.content.decode()
    for leaked in ("secret words", "private fox", str(records["bigger"].id)):
        assert leaked not in text
    assert str(records["private"].id) not in text


def test_family_as_its_members_see_it(api, bob, carol, family):
    records = family["records"]
    nodes = lineage_of(api(bob), records["night"]).json()["nodes"]
    (bigger,) = [n for n in nodes if n.get("id") == str(records["bigger"].id)]
    assert bigger["changes"]["op"] == {"from": "generate", "to": "upscale"}
    assert bigger["changes"]["backend"] == {"from": "procedural", "to": "editor"}
    assert bigger["changes"]["prompt_changed"] is False
    assert bigger["post_id"] is None
    # carol sees her own hidden prompt and its diff; bob's private upscale stays a placeholder.
    response = lineage_of(api(carol), records["secret"])
    nodes = response.json()["nodes"]
    (own,) = by_relation(nodes, "self")
    assert own["prompt"] == "carol's secret words"
    assert {"op": "insert", "text": "carol's secret words"} in own["changes"]["prompt"]
    assert [n["relation"] for n in nodes] == ["ancestor", "ancestor", "self"]
    assert str(records["bigger"].id) not in response.content.decode()


def test_a_step_names_its_model_and_parameter_changes(api, alice, bob, made, post_of):
    base = made(alice, "a red fox in snow", seed=1)
    base_post = post_of(alice, base)
    # Same prompt and seed, another quality and size: only what differs is named.
    remix = made(
        bob, "a red fox in snow", seed=1, remix_of=base_post["id"], quality="final", width=16
    )
    nodes = lineage_of(api(bob), record_for_asset(asset=remix)).json()["nodes"]
    (own,) = by_relation(nodes, "self")
    changes = own["changes"]
    assert changes["params"] == {
        "quality": {"from": "draft", "to": "final"},
        "width": {"from": 8, "to": 16},
        "size": {"from": "8x8", "to": "16x8"},
    }
    assert changes["prompt_changed"] is False and "seed" not in changes and "model" not in changes
    # An upscale of it is made by the editor: the model and the operation change too.
    bigger = made(bob, "a red fox in snow", op="upscale", inputs=[remix])
    nodes = lineage_of(api(bob), record_for_asset(asset=bigger)).json()["nodes"]
    (own,) = by_relation(nodes, "self")
    assert own["changes"]["op"] == {"from": "generate", "to": "upscale"}
    assert own["changes"]["model"]["from"] == "vivid-procedural"
    assert own["changes"]["model"]["to"] != "vivid-procedural"


def test_a_record_others_may_not_see_has_no_lineage_for_them(api, bob, family):
    assert (
        api(bob).get(f"/api/v1/provenance/{family['records']['private'].id}/lineage").status_code
        == 404
    )


def test_lineage_costs_the_same_queries_however_large(api, alice, make_user, made, post_of):
    viewer = api(make_user("eve"))
    root = made(alice, "the first of many")
    post = post_of(alice, root)
    record = record_for_asset(asset=root)

    def count():
        with CaptureQueriesContext(connection) as queries:
            lineage_of(viewer, record)
        return len(queries)

    count()  # warm: the token's first use is recorded once
    small = count()
    parent = post
    for i in range(6):  # a chain of remixes, and a few siblings at each step
        child = made(alice, f"the first of many, take {i}", remix_of=parent["id"], seed=i)
        made(alice, f"a sibling {i}", remix_of=parent["id"], seed=100 + i)
        parent = post_of(alice, child)
    large = count()
    body = json.loads(viewer.get(f"/api/v1/provenance/{record.id}/lineage").content)
    assert len(body["nodes"]) == 13
    assert large == small and large <= 14


def test_post_page_shows_the_family_and_keeps_hidden_prompts(client, make_user, carol, family):
    dave = make_user("dave")
    client.force_login(dave)
    page = client.get(f"/p/{family['posts']['night']['id']}").content.decode()
    assert 'data-testid="family-tree"' in page
    assert page.count('data-testid="family-node"') == 5
    assert page.count('data-testid="family-hidden"') == 2
    assert "<ins>deep</ins>" in page and "@alice" in page
    assert "secret words" not in page and "private fox" not in page
    assert 'data-testid="provenance-verified"' in page
    # carol's hidden prompt: others get the record without it, carol gets it.
    secret = family["posts"]["secret"]["id"]
    page = client.get(f"/p/{secret}").content.decode()
    assert "secret words" not in page and 'data-testid="prompt-hidden"' in page
    client.force_login(carol)
    assert "carol&#x27;s secret words" in client.get(f"/p/{secret}").content.decode()
