"""Making pictures on Create with a ComfyUI server, in a real browser.

The live site's processes read the ComfyUI server list from ``COMFYUI_URLS`` (they are started by
``live_stack`` with this process's environment), so each test sets it before the stack starts: to
a stand-in ComfyUI server (``tests/generation/comfyui_standin.py``, ComfyUI's real HTTP and socket
API) that takes 0.3 s a step, slow enough for the progress bar to be seen moving, or to a closed
port for a site whose GPU server is down. What is asserted is what a creator sees: the model
choices, the bar, the picture, the note and the disabled button, a cancel that stops the GPU.
"""

from __future__ import annotations

import re
import urllib.error

import pytest
from playwright.sync_api import Page, expect

from apps.generation.models import GenerationJob
from tests.e2e.test_live_feed import api, api_sign_up, expect_image_loaded, expect_live, log_in
from tests.generation.comfyui_standin import ComfyStandin
from tests.generation.test_comfyui_backend import IMAGE, _forget
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e

SCREENSHOTS = "/tmp/e2e-comfyui-{}.png"
STEP_S = 0.3  # per sampler step (final = 4 steps) and per plain node
CLOSED = "http://127.0.0.1:9"  # nothing listens on the discard port
NO_SERVER = "No ComfyUI server is reachable"


@pytest.fixture
def comfyui():
    with ComfyStandin(step_s=STEP_S) as server:
        yield server
        _forget(server)


@pytest.fixture
def comfyui_urls(comfyui) -> str:
    """The server list the site is started with (a test may parametrize it)."""
    return comfyui.url


@pytest.fixture
def comfyui_env(comfyui_urls, monkeypatch) -> None:
    monkeypatch.setenv("COMFYUI_URLS", comfyui_urls)


@pytest.fixture
def live_stack(comfyui_env, live_stack):
    """The site (uvicorn and its Celery worker), started once ``COMFYUI_URLS`` is set."""
    return live_stack


def watch_progress(page: Page) -> None:
    """Record every value the progress bar announces (``aria-valuenow``) with the job's state."""
    page.evaluate(
        """() => {
            const progress = document.getElementById("progress");
            window.__progress = [];
            new MutationObserver(() => window.__progress.push(
                [progress.dataset.status, Number(progress.getAttribute("aria-valuenow"))]
            )).observe(progress, {attributes: true, attributeFilter: ["aria-valuenow"]});
        }"""
    )


def between(low: int, high: int) -> re.Pattern:
    """aria-valuenow strictly between ``low`` and ``high`` (whole percents)."""
    return re.compile("^(" + "|".join(str(n) for n in range(low + 1, high)) + ")$")


def test_sdxl_turbo_is_a_model_choice_whose_bar_moves_until_the_picture_arrives(
    live_stack, browser_page, comfyui
):
    api_sign_up(live_stack, "ada")
    page = browser_page("ada", viewport={"width": 1280, "height": 900})
    log_in(page, "ada")
    page.get_by_role("navigation").get_by_role("link", name="Create", exact=True).click()
    expect_live(page)

    # Both workflows are model choices; the video one sets the page up for clips.
    model = page.get_by_label("Backend")
    expect(model.locator("option", has_text="SDXL Turbo")).to_have_count(1)
    expect(model.locator("option", has_text="Wan 2.2 TI2V 5B")).to_have_count(1)
    model.select_option(label="Wan 2.2 TI2V 5B")
    expect(page.get_by_label("Video")).to_be_checked()
    expect(page.get_by_label("Duration (seconds)")).to_be_visible()
    expect(page.locator("#backend-note")).to_contain_text("1 to 5 seconds with Wan 2.2 TI2V 5B")
    expect(page.get_by_role("button", name="Generate")).to_be_enabled()

    # SDXL Turbo makes pictures: a final (4 steps of 0.3 s on the server).
    model.select_option(label="SDXL Turbo")
    expect(model).to_have_value(IMAGE)
    expect(page.get_by_label("Image")).to_be_checked()
    expect(page.get_by_label("Count")).to_be_visible()
    prompt = "a red fox asleep in fresh snow, morning light"
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_label("Quality").select_option("final")
    page.get_by_label("Count").select_option("1")
    generate = page.get_by_role("button", name="Generate")
    expect(generate).to_be_enabled()
    watch_progress(page)
    generate.click()

    # The bar moves while the server is still sampling.
    progress = page.locator("#progress")
    expect(progress).to_have_attribute("data-status", "running", timeout=30_000)
    expect(progress).to_have_attribute("aria-valuenow", between(5, 90), timeout=30_000)
    assert comfyui.executed == [], "the prompt finished before the bar showed it running"
    page.screenshot(path=SCREENSHOTS.format("1-sampling"), full_page=True)

    # Then the picture.
    expect(progress).to_have_attribute("data-status", "succeeded", timeout=45_000)
    expect(progress).to_have_attribute("aria-valuenow", "100")
    result = page.locator("#results figure.result")
    expect(result).to_have_count(1)
    expect_image_loaded(result.locator("img"))
    page.screenshot(path=SCREENSHOTS.format("2-result"), full_page=True)

    seen = [value for status, value in page.evaluate("window.__progress") if status == "running"]
    assert any(0 < v < 100 for v in seen), seen
    assert len({v for v in seen if 0 < v < 100}) >= 2, f"the bar jumped rather than moved: {seen}"
    assert seen == sorted(seen), seen

    # The server got the creator's prompt in the workflow's prompt node, as a final of 4 steps.
    assert len(comfyui.prompts) == 1 and len(comfyui.executed) == 1
    graph = comfyui.prompts[0]["graph"]
    assert graph["6"]["inputs"]["text"] == prompt
    assert graph["22"]["inputs"]["steps"] == 4
    job = GenerationJob.objects.get(owner__username="ada")
    assert job.backend == IMAGE and job.status == GenerationJob.Status.SUCCEEDED
    assert job.assets.count() == 1
    assert not browser_page.problems["ada"].errors


@pytest.mark.parametrize("comfyui_urls", [CLOSED])
def test_with_no_comfyui_server_the_model_says_so_and_nothing_is_queued(live_stack, browser_page):
    vera = api_sign_up(live_stack, "vera")
    page = browser_page("vera")
    log_in(page, "vera")
    page.get_by_role("navigation").get_by_role("link", name="Create", exact=True).click()
    expect_live(page)
    generate = page.get_by_role("button", name="Generate")
    expect(generate).to_be_enabled()  # the default model still works

    page.get_by_label("Prompt", exact=True).fill("a lighthouse at dusk")
    page.get_by_label("Backend").select_option(label="SDXL Turbo")
    note = page.locator("#backend-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text(NO_SERVER)
    expect(note).to_have_class(re.compile(r"\berror\b"))
    expect(generate).to_be_disabled()
    expect(page.get_by_role("button", name="16 drafts")).to_be_disabled()
    page.screenshot(path=SCREENSHOTS.format("3-no-server"), full_page=True)

    # Pressing Enter in a field cannot get round the disabled button.
    page.get_by_label("Negative prompt").press("Enter")
    page.wait_for_timeout(500)
    expect(page.locator("#progress")).to_be_hidden()

    # And a request made anyway is refused: 503, nothing queued.
    with pytest.raises(urllib.error.HTTPError) as refused:
        api(
            live_stack,
            "POST",
            "generations",
            token=vera["token"],
            body={"kind": "image", "prompt": "a lighthouse at dusk", "backend": IMAGE},
        )
    assert refused.value.code == 503
    assert not GenerationJob.objects.exists()

    # Back on a model that works, Generate is on again and the note is gone.
    page.get_by_label("Backend").select_option("procedural")
    expect(generate).to_be_enabled()
    expect(note).not_to_contain_text(NO_SERVER)


def test_cancel_while_sampling_interrupts_the_servers_prompt(live_stack, browser_page, comfyui):
    api_sign_up(live_stack, "ines")
    page = browser_page("ines")
    log_in(page, "ines")
    page.get_by_role("navigation").get_by_role("link", name="Create", exact=True).click()
    expect_live(page)
    page.get_by_label("Backend").select_option(label="SDXL Turbo")
    page.get_by_label("Prompt", exact=True).fill("a paper boat on a quiet river")
    page.get_by_label("Quality").select_option("final")
    page.get_by_label("Count").select_option("1")
    page.get_by_role("button", name="Generate").click()

    progress = page.locator("#progress")
    expect(progress).to_have_attribute("aria-valuenow", between(0, 90), timeout=30_000)
    cancel = page.get_by_role("button", name="Cancel")
    expect(cancel).to_be_visible()
    # Setting up the next run meanwhile does not offer a second Generate over this one.
    # (Asked at once: the next progress update would hide a button turned back on.)
    page.get_by_label("Quality").select_option("draft")
    assert page.get_by_role("button", name="Generate").is_disabled()
    assert page.get_by_role("button", name="16 drafts").is_disabled()
    cancel.click()

    expect(progress).to_have_attribute("data-status", "canceled", timeout=20_000)
    expect(cancel).to_be_hidden()
    expect(page.get_by_role("button", name="Generate")).to_be_enabled()
    expect(page.locator("#results figure.result:not(.pending)")).to_have_count(0)
    page.screenshot(path=SCREENSHOTS.format("4-canceled"), full_page=True)

    job = GenerationJob.objects.get(owner__username="ines")
    assert job.status == GenerationJob.Status.CANCELED and not job.assets.exists()
    # The GPU stopped: the running prompt was interrupted, by its id, and never finished.
    prompt_id = comfyui.prompts[0]["prompt_id"]
    wait_for(lambda: comfyui.interrupts, timeout=10, interval=0.1)
    assert [i.get("prompt_id") for i in comfyui.interrupts] == [prompt_id]
    assert comfyui.executed == []
