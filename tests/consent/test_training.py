"""Training consent: the account default, the per-post choice (a remix never allows more than
its parent), and ``export_training_set``, which writes only what its authors allowed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.consent.models import ConsentEvent
from apps.generation.models import GenerationJob
from apps.media.models import Asset
from tests.helpers import wait_for


def set_training(api, user, allowed: bool) -> None:
    response = api(user).put(
        "/api/v1/me/consent/training", {"default_allowed": allowed}, format="json"
    )
    assert response.status_code == 200 and response.json() == {"default_allowed": allowed}


@pytest.mark.django_db
def test_posts_follow_the_account_default_and_remixes_the_stricter(
    api, alice, bob, make_asset, publish_asset
):
    assert api(alice).get("/api/v1/me/consent/training").json() == {"default_allowed": False}
    assert publish_asset(alice, make_asset(alice))["training_use"] is False
    set_training(api, alice, True)
    assert publish_asset(alice, make_asset(alice))["training_use"] is True
    assert publish_asset(alice, make_asset(alice), training_use=False)["training_use"] is False

    closed = publish_asset(bob, make_asset(bob), training_use=False)
    remix = publish_asset(alice, make_asset(alice), remix_of=closed["id"], training_use=True)
    assert remix["remix_of"] == closed["id"] and remix["training_use"] is False
    open_ = publish_asset(bob, make_asset(bob), training_use=True)
    assert publish_asset(alice, make_asset(alice), remix_of=open_["id"])["training_use"] is True

    kinds = list(
        ConsentEvent.objects.filter(user_id=alice.pk).order_by("seq").values_list("kind", "scope")
    )
    assert kinds[0] == ("training_default", "training")
    assert [k for k, _ in kinds[1:]] == ["training_post", "training_post"]


def read_export(folder: Path) -> tuple[dict[str, dict], bytes]:
    items = {}
    for line in (folder / "items.jsonl").read_text().splitlines():
        item = json.loads(line)
        items[item["post_id"]] = item
    everything = b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())
    return items, everything


@pytest.mark.django_db(transaction=True)
def test_the_export_holds_only_consented_items(
    celery_worker,
    api,
    make_user,
    alice,
    bob,
    carol,
    draft,
    publish_asset,
    make_asset,
    set_consent,
    tmp_path,
    capsys,
):
    erin, frank = make_user("erin"), make_user("frank")
    for person in (alice, carol, erin, frank):
        set_training(api, person, True)
    set_consent(bob, "everyone")

    def generated(owner, prompt):
        response = api(owner).post(
            "/api/v1/generations",
            {"kind": "image", "prompt": prompt, "quality": "draft", "seed": 3},
            format="json",
        )
        job_id = response.json()["id"]
        job = wait_for(
            lambda: GenerationJob.objects.filter(id=job_id, status="succeeded").first(),
            timeout=60,
        )
        return job.assets.get()

    yes = publish_asset(alice, generated(alice, "lighthouse at dusk"))
    hidden = publish_asset(alice, generated(alice, "zebra quartz nebula"), hide_prompt=True)
    no = publish_asset(alice, make_asset(alice), training_use=False)
    followers = publish_asset(alice, make_asset(alice), "followers")
    private = publish_asset(alice, make_asset(alice), "private")
    depicts_bob = publish_asset(alice, draft(alice, bob)[1])
    removed = publish_asset(alice, draft(alice, bob)[1])
    job_id = Asset.objects.get(id=removed["asset"]["id"]).job_id
    assert api(bob).delete(f"/api/v1/me/consent/likeness/uses/{job_id}").status_code == 204
    carol.is_private = True
    carol.save()
    private_account = publish_asset(carol, make_asset(carol))
    withdrawn = publish_asset(erin, make_asset(erin))
    set_training(api, erin, False)  # the newest decision wins: erin's older post goes
    opted_in = publish_asset(erin, make_asset(erin), training_use=True)  # ... this one stays
    parent = publish_asset(frank, make_asset(frank))
    child = publish_asset(alice, make_asset(alice), remix_of=parent["id"])
    orphaned_parent = publish_asset(bob, make_asset(bob), training_use=True)
    set_training(api, bob, False)
    orphan = publish_asset(alice, make_asset(alice), remix_of=orphaned_parent["id"])

    folder = tmp_path / "set"
    call_command("export_training_set", str(folder))
    items, everything = read_export(folder)
    assert set(items) == {yes["id"], hidden["id"], opted_in["id"], parent["id"], child["id"]}
    for left_out in (
        no,
        followers,
        private,
        depicts_bob,
        removed,
        private_account,
        withdrawn,
        orphaned_parent,
        orphan,
    ):
        assert left_out["id"] not in items
    assert "items written" in capsys.readouterr().out

    # The prompt is there where it may be, and nowhere at all where it is hidden.
    assert items[yes["id"]]["provenance"]["prompt"] == "lighthouse at dusk"
    assert items[yes["id"]]["provenance"]["record_id"]
    assert "prompt" not in items[hidden["id"]]["provenance"]
    assert b"zebra quartz nebula" not in everything
    assert b"zebra" not in everything.lower()

    # Every file is listed with its checksum, and matches it.
    sums = dict(
        reversed(line.split("  ", 1)) for line in (folder / "SHA256SUMS").read_text().splitlines()
    )
    assert set(sums) == {"items.jsonl", *(i["file"] for i in items.values())}
    for name, sha in sums.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha
    assert {p.name for p in (folder / "files").iterdir()} == {
        Path(i["file"]).name for i in items.values()
    }

    # Frank changes his mind: the remix of his post goes with it.
    set_training(api, frank, False)
    call_command("export_training_set", str(tmp_path / "again"), "--no-progress")
    items, _ = read_export(tmp_path / "again")
    assert set(items) == {yes["id"], hidden["id"], opted_in["id"]}
