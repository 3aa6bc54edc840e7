"""The /verify page in a real browser: drop a copy found elsewhere, see what it is."""

from __future__ import annotations

import base64
import io
import urllib.request

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.test_live_feed import api_sign_up, generate, publish

pytestmark = pytest.mark.e2e


def download(stack, url: str) -> bytes:
    with urllib.request.urlopen(url if url.startswith("http") else stack.url + url) as response:
        return response.read()


def test_a_visitor_checks_a_copy_on_the_verify_page(live_stack, browser_page):
    ada = api_sign_up(live_stack, "ada")
    asset = generate(live_stack, ada["token"], prompt="a quiet harbour at dusk")[0]
    post = publish(live_stack, ada["token"], asset, "Harbour lights")
    original = download(live_stack, asset["original_url"])
    # A copy as it travels: resized and saved again as a JPEG.
    with Image.open(io.BytesIO(original)) as im:
        out = io.BytesIO()
        im.convert("RGB").resize((im.width * 2 // 3, im.height * 2 // 3)).save(
            out, "JPEG", quality=65
        )
        copy = out.getvalue()

    page = browser_page("visitor", viewport={"width": 1280, "height": 900})
    page.goto("/verify")
    expect(page.get_by_role("heading", name="Verify a file")).to_be_visible()

    # Chosen with the file input: a near copy, found by its look, with its distance.
    page.get_by_test_id("verify-file").set_input_files(
        files=[{"name": "found.jpg", "mimeType": "image/jpeg", "buffer": copy}]
    )
    result = page.get_by_test_id("verify-result")
    expect(result).to_be_visible()
    match = page.get_by_test_id("verify-match").first
    expect(match).to_have_attribute("data-method", "perceptual")
    expect(match).to_contain_text("Near copy of a picture")
    expect(match).to_contain_text("distance")
    expect(page.get_by_test_id("verify-post-link").first).to_have_attribute(
        "href", f"/p/{post['id']}"
    )
    expect(page.get_by_test_id("verify-record")).to_contain_text("a quiet harbour at dusk")
    # The record's id leads to its page on the site.
    expect(page.get_by_test_id("verify-record").get_by_role("link")).to_have_attribute(
        "href", f"/provenance/{asset['provenance_id']}"
    )
    expect(page.get_by_test_id("verify-c2pa")).to_be_visible()

    # Dropped on the zone: the file as the site served it, an exact copy.
    page.evaluate(
        """([b64, name]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            const zone = document.getElementById("verify-drop");
            for (const type of ["dragenter", "dragover", "drop"]) {
                const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
                zone.dispatchEvent(new DragEvent(type, init));
            }
        }""",
        [base64.b64encode(original).decode(), "original.png"],
    )
    expect(page.locator("#verify-status")).to_contain_text("original.png: checked.")
    exact = page.get_by_test_id("verify-match").first
    expect(exact).to_have_attribute("data-method", "sha256")
    expect(exact).to_contain_text("Exact copy of a picture")
    expect(exact).to_contain_text("distance 0")

    # Something that is not a picture is refused in plain words.
    page.get_by_test_id("verify-file").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"just some text"}]
    )
    expect(page.locator("#verify-error")).to_contain_text("Upload one of")
