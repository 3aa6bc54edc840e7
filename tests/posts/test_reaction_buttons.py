"""The reaction buttons on a card: a signed-in person can give any of the five reactions, even one
nobody has given yet; a visitor sees Like and the reactions already given (disabled)."""

from __future__ import annotations

import re

from django.test import Client

from apps.posts.services import reaction_add

KINDS = ["like", "love", "haha", "wow", "fire"]


def buttons(html: str) -> list[str]:
    return re.findall(r'class="reaction[^"]*" data-kind="(\w+)"', html)


def test_every_reaction_is_offered_to_a_signed_in_person(alice, bob, publish):
    post = publish(alice, caption="dunes")
    page = Client()
    page.force_login(bob)
    assert buttons(page.get(f"/p/{post['id']}/card").content.decode()) == KINDS
    # The first "fire" from the card's button is taken and counted.
    answer = page.post(f"/p/{post['id']}/react", {"kind": "fire"}, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
    assert 'data-count="fire">1<' in answer.content.decode()


def test_a_visitor_sees_like_and_what_was_given(alice, bob, publish):
    post = publish(alice, caption="dunes")
    reaction_add(user=bob, post_id=int(post["id"]), kind="wow")
    html = Client().get(f"/p/{post['id']}/card").content.decode()
    assert buttons(html) == ["like", "wow"]
