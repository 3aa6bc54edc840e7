"""Data export in a real browser against real server processes: ask for it on the settings
page, watch it finish without reloading, download the zip, and be told it is ready."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile

import pytest
from playwright.sync_api import expect

from tests.e2e.test_live_feed import (
    api_sign_up,
    assert_not_reloaded,
    generate,
    log_in,
    mark_page,
)

pytestmark = pytest.mark.e2e


def test_ask_watch_and_download_an_export(live_stack, browser_page, tmp_path):
    token = api_sign_up(live_stack, "nova")["token"]
    [asset] = generate(live_stack, token, prompt="a lighthouse in fog")
    page = browser_page("nova", viewport={"width": 1280, "height": 900})
    log_in(page, "nova")

    page.goto("/settings/data")
    page.get_by_test_id("export-link").click()
    expect(page).to_have_url(re.compile(r"/settings/data/export$"))
    page.get_by_test_id("export-request").click()
    expect(page.get_by_test_id("export-next")).to_be_visible()  # one a day: when the next

    # The worker builds it; the page follows it through the API and shows the link in place.
    mark_page(page)
    link = page.get_by_test_id("export-download")
    expect(link).to_be_visible(timeout=30_000)
    assert_not_reloaded(page)
    expect(page.locator("#export-state")).to_have_text("succeeded")
    expect(page.locator("#export-expires")).to_contain_text("UTC")

    with page.expect_download() as info:
        link.click()
    download = info.value
    assert re.fullmatch(r"vivid-nova-\d{4}-\d{2}-\d{2}\.zip", download.suggested_filename)
    path = tmp_path / "export.zip"
    download.save_as(path)
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        files = {f["path"]: f for f in manifest["files"]}
        assert f"media/{asset['id']}.png" in files
        for name, entry in files.items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == entry["sha256"]
        jobs = json.loads(zf.read("prompts/generations.json"))
        assert [j["prompt"] for j in jobs] == ["a lighthouse in fog"]

    # The notification points at the export page.
    page.goto("/notifications")
    notice = page.locator('li.notification[data-type="account"] a')
    expect(notice).to_have_attribute("href", "/settings/data/export")

    problems = browser_page.problems["nova"]
    assert not problems.errors and not problems.console, problems
