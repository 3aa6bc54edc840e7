"""Settings → Likeness & training on the site: the same choices, uses and log as the API."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.consent.models import LikenessUse

pytestmark = pytest.mark.django_db


@pytest.fixture
def site():
    def login(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return login


def test_the_privacy_page_links_to_it(site, bob):
    page = site(bob).get("/settings/privacy").content.decode()
    assert 'href="/settings/consent"' in page


def test_visitors_are_sent_to_log_in(client):
    response = client.get("/settings/consent")
    assert response.status_code == 302 and "/login" in response["Location"]


def test_choosing_a_policy_and_approving_people(site, api, alice, bob, carol):
    page = site(bob)
    body = page.get("/settings/consent").content.decode()
    assert 'value="nobody" checked' in body and "Nobody has used your likeness" in body

    page.post("/settings/consent/likeness", {"policy": "approved"})
    page.post("/settings/consent/approved", {"username": "@alice", "action": "add"})
    response = page.post("/settings/consent/approved", {"username": "ghost", "action": "add"})
    assert response.status_code == 302
    body = page.get("/settings/consent").content.decode()
    assert "@ghost" in body  # the refusal, flashed
    assert 'value="approved" checked' in body and 'href="/u/alice"' in body
    assert api(bob).get("/api/v1/me/consent/likeness").json() == {
        "policy": "approved",
        "approved": ["alice"],
    }
    log = body.split('data-testid="consent-events"')[1]
    assert "Likeness Approve" in log and "Likeness Policy" in log

    page.post("/settings/consent/approved", {"username": "alice", "action": "remove"})
    assert api(bob).get("/api/v1/me/consent/likeness").json()["approved"] == []


def test_seeing_and_removing_a_use(site, alice, bob, set_consent, draft):
    set_consent(bob, "everyone")
    job, _ = draft(alice, bob)
    page = site(bob)
    body = page.get("/settings/consent").content.decode()
    uses = body.split('data-testid="likeness-uses"')[1].split("</ul>")[0]
    assert "@alice" in uses and f"/settings/consent/uses/{job.id}/remove" in uses

    assert page.post(f"/settings/consent/uses/{job.id}/remove").status_code == 302
    assert LikenessUse.objects.get(job=job).status == "removed"
    uses = page.get("/settings/consent").content.decode().split('data-testid="likeness-uses"')[1]
    assert "removed" in uses.split("</ul>")[0]
    # Someone else cannot remove it (nor learn that it exists).
    response = site(alice).post(f"/settings/consent/uses/{job.id}/remove", follow=True)
    assert "Not found" in response.content.decode()


def test_the_training_default(site, api, bob):
    page = site(bob)
    page.post("/settings/consent/training", {"default_allowed": "on"})
    assert api(bob).get("/api/v1/me/consent/training").json() == {"default_allowed": True}
    assert 'name="default_allowed" checked' in page.get("/settings/consent").content.decode()
    page.post("/settings/consent/training", {})
    assert api(bob).get("/api/v1/me/consent/training").json() == {"default_allowed": False}
