"""The ComfyUI backend against a stand-in that speaks ComfyUI's own HTTP and socket API.

The shipped example workflows (platform/comfyui/) are the ones under test: what an operator who
follows the README gets. Jobs run through Vivid's job system (services.job_run, and a real Celery
worker where retries and timing matter), so what is asserted is what a creator sees: the job's
state and reason, its assets, its provenance record, its progress events.
"""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from apps.core.exceptions import ApplicationError
from apps.generation import services
from apps.generation.backends.comfyui.workflows import WorkflowError, workflow_load
from apps.generation.backends.registry import backend_get
from apps.generation.models import GenerationJob
from apps.media import video
from apps.provenance.models import ProvenanceRecord
from tests.generation.comfyui_standin import ComfyStandin, model_sha256

WORKFLOWS = Path(__file__).resolve().parents[2] / "platform" / "comfyui"
IMAGE = "comfyui:sdxl-turbo"
VIDEO = "comfyui:wan22-ti2v"
Status = GenerationJob.Status


def _forget(*servers: ComfyStandin) -> None:
    """Drop what the pool remembers about these addresses (ports are reused between tests)."""
    from apps.generation.backends.comfyui.client import ComfyServer
    from apps.generation.backends.comfyui.pool import ServerPool

    for s in servers:
        server = ComfyServer(s.url)
        cache.delete(ServerPool._key(server, "health"))


@pytest.fixture
def standin():
    with ComfyStandin() as server:
        yield server
        _forget(server)


@pytest.fixture
def second():
    with ComfyStandin() as server:
        yield server
        _forget(server)


def _configure(settings, *servers: ComfyStandin | str, **options) -> None:
    urls = [s if isinstance(s, str) else s.url for s in servers]
    settings.GENERATION_BACKENDS = {
        **settings.GENERATION_BACKENDS,
        "comfyui": {
            "BACKEND": "apps.generation.backends.comfyui.ComfyUIBackend",
            "OPTIONS": {
                "urls": urls,
                "workflows_dir": str(options.pop("workflows_dir", WORKFLOWS)),
                "timeout": 5,
                "connect_timeout": 1,
                "retry_after_s": 60,
                **options,
            },
        },
    }


@pytest.fixture
def comfy(settings, standin):
    _configure(settings, standin)
    return standin


def _request(user, captured, **fields) -> GenerationJob:
    with captured():
        return services.job_request(owner=user, **fields)


def _image_job(user, captured, **fields) -> GenerationJob:
    fields = {"kind": "image", "prompt": "a red fox in snow", "quality": "draft", **fields}
    return _request(user, captured, backend=IMAGE, **fields)


def _video_job(user, captured, **fields) -> GenerationJob:
    fields = {"kind": "video", "prompt": "a paper boat on a river", "quality": "draft", **fields}
    fields.setdefault("aspect_ratio", "16:9")
    fields.setdefault("duration_s", 1)
    return _request(user, captured, backend=VIDEO, **fields)


def _read(asset) -> bytes:
    with default_storage.open(asset.original, "rb") as f:
        return f.read()


def _wait(predicate, timeout: float = 20.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# --- the model choices ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_workflow_is_a_model_choice_with_its_kinds_sizes_and_durations(comfy, api, alice):
    listed = {b["id"]: b for b in api(alice).get("/api/v1/generation/backends").json()}
    image, clip = listed[IMAGE], listed[VIDEO]
    assert image["name"] == "SDXL Turbo" and image["kinds"] == ["image"]
    assert "512x512" in image["sizes"] and image["available"] is True
    assert clip["kinds"] == ["video"] and clip["max_duration_s"] == 5
    assert "1280x720" in clip["video_sizes"] and clip["can_start_from_image"] is True
    assert image["can_start_from_image"] is False
    # Names, not addresses: a server URL may carry credentials.
    assert comfy.url not in str(listed)


def test_the_settings_turn_the_backend_on_from_the_environment(monkeypatch):
    import importlib

    from apps.config import settings as settings_module

    monkeypatch.setenv("COMFYUI_URLS", "http://gpu1:8188,http://gpu2:8188")
    monkeypatch.setenv("COMFYUI_WORKFLOWS_DIR", "/srv/workflows")
    try:
        reloaded = importlib.reload(settings_module)
        conf = reloaded.GENERATION_BACKENDS["comfyui"]
    finally:
        monkeypatch.delenv("COMFYUI_URLS")
        importlib.reload(settings_module)
    assert conf["OPTIONS"]["urls"] == ["http://gpu1:8188", "http://gpu2:8188"]
    assert conf["OPTIONS"]["workflows_dir"] == "/srv/workflows"


# --- images and clips end to end -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_image_grid_runs_through_a_worker_with_progress_and_provenance(
    settings, celery_worker, api, alice, events
):
    with ComfyStandin(step_s=0.05) as server:
        _configure(settings, server)
        answer = api(alice).post(
            "/api/v1/generations",
            {
                "kind": "image",
                "prompt": "a lighthouse at dusk",
                "negative_prompt": "blurry",
                "backend": IMAGE,
                "quality": "final",
                "count": 2,
                "seed": 1234,
            },
            format="json",
        )
        assert answer.status_code == 202, answer.content
        job_id = int(answer.json()["id"])
        job = _wait(
            lambda: GenerationJob.objects.filter(
                id=job_id, status__in=["succeeded", "failed"]
            ).first(),
            timeout=60,
            what="the job to finish",
        )
        _forget(server)
    assert job.status == Status.SUCCEEDED, job.error
    # The workflow's own cost: 2 units a final picture (Vivid's default would be 4).
    assert job.cost == 4

    # One prompt per picture, seeds 1234 and 1235, final = 4 steps, the texts in their nodes.
    graphs = [p["graph"] for p in server.prompts]
    assert [g["13"]["inputs"]["noise_seed"] for g in graphs] == [1234, 1235]
    assert {g["22"]["inputs"]["steps"] for g in graphs} == {4}
    assert {g["6"]["inputs"]["text"] for g in graphs} == {"a lighthouse at dusk"}

    assets = list(job.assets.order_by("id"))
    assert len(assets) == 2
    for asset, seed in zip(assets, (1234, 1235), strict=True):
        assert (asset.mime, asset.width, asset.height) == ("image/png", 1024, 1024)
        with Image.open(io.BytesIO(_read(asset))) as picture:
            assert picture.format == "PNG" and picture.size == (1024, 1024)
        record = ProvenanceRecord.objects.get(asset=asset)
        assert record.backend == IMAGE
        assert record.model_name == "sd_xl_turbo_1.0_fp16.safetensors"
        assert record.seed == seed  # the seed ComfyUI ran this picture with
        made = record.params["made_with"]
        assert made["workflow"] == "sdxl-turbo" and made["seed"] == seed
        assert made["models"] == [
            {
                "class": "CheckpointLoaderSimple",
                "name": "sd_xl_turbo_1.0_fp16.safetensors",
                "sha256": model_sha256("sd_xl_turbo_1.0_fp16.safetensors"),
            }
        ]
        assert made["steps"] == 4
    # Two different pictures, not one twice.
    assert assets[0].sha256 != assets[1].sha256

    # Progress reached the creator's sockets as the server reported its steps.
    updates = [
        e["job"]
        for e in events.to(f"user.{alice.pk}")
        if "job" in e and e["job"]["id"] == str(job_id)
    ]
    running = [u["progress"] for u in updates if u["status"] == "running"]
    assert any(0 < p < 1 for p in running), running
    assert running == sorted(running)
    assert updates[-1]["status"] == "succeeded"


@pytest.mark.django_db
def test_a_clip_is_reencoded_to_vivids_size_and_frame_rate_without_sound(
    comfy, alice, django_capture_on_commit_callbacks
):
    job = _video_job(
        alice, django_capture_on_commit_callbacks, duration_s=2, negative_prompt="shaky camera"
    )
    services.job_run(job_id=job.id)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, job.error
    assert comfy.prompts[-1]["graph"]["7"]["inputs"]["text"] == "shaky camera"
    data = _read(job.assets.get())
    info = video.probe(data)
    assert (info.width, info.height) == (1280, 720)
    assert info.fps == pytest.approx(video.FPS)
    assert info.duration_s == pytest.approx(2.0, abs=1 / 24)
    import av

    with av.open(io.BytesIO(data)) as container:
        assert [s.type for s in container.streams] == ["video"]
        assert container.streams.video[0].codec_context.name == "h264"
    graph = comfy.prompts[-1]["graph"]
    # The model's frame rule (4k+1 frames at 24 fps covering 2 s) and its 16:9 size.
    assert graph["55"]["inputs"]["length"] == 49
    assert (graph["55"]["inputs"]["width"], graph["55"]["inputs"]["height"]) == (1280, 704)
    # No start picture: the picture loader and its link are gone from the graph.
    assert "56" not in graph and "start_image" not in graph["55"]["inputs"]
    record = ProvenanceRecord.objects.get(asset=job.assets.get())
    names = [m["name"] for m in record.params["made_with"]["models"]]
    assert names[0] == "wan2.2_ti2v_5B_fp16.safetensors"


@pytest.mark.django_db
def test_image_to_video_uploads_the_picture_and_starts_from_it(
    comfy, alice, django_capture_on_commit_callbacks
):
    picture = _image_job(alice, django_capture_on_commit_callbacks, aspect_ratio="16:9")
    services.job_run(job_id=picture.id)
    source = picture.assets.get()

    job = _video_job(alice, django_capture_on_commit_callbacks, start_from=source.id)
    services.job_run(job_id=job.id)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, job.error

    graph = comfy.prompts[-1]["graph"]
    uploaded = graph["56"]["inputs"]["image"]
    assert graph["55"]["inputs"]["start_image"] == ["56", 0]
    with Image.open(io.BytesIO(comfy.uploads[uploaded])) as sent:
        assert sent.size == (1280, 704)
        sent_rgb = np.asarray(sent.convert("RGB"), dtype=np.int16)
    with Image.open(io.BytesIO(_read(source))) as original:
        expected = np.asarray(
            original.convert("RGB").resize((1280, 704), Image.Resampling.BILINEAR), dtype=np.int16
        )
    assert float(np.abs(sent_rgb - expected).mean()) < 12.0
    # The clip's provenance names the picture it started from.
    record = ProvenanceRecord.objects.get(asset=job.assets.get())
    assert record.parents == [str(ProvenanceRecord.objects.get(asset=source).id)]


@pytest.mark.django_db
def test_image_to_video_needs_a_backend_that_can_and_a_picture_one_may_use(
    comfy, alice, bob, django_capture_on_commit_callbacks
):
    picture = _image_job(bob, django_capture_on_commit_callbacks)
    services.job_run(job_id=picture.id)
    with pytest.raises(ApplicationError) as hidden:
        _video_job(alice, django_capture_on_commit_callbacks, start_from=picture.assets.get().id)
    assert hidden.value.code == "not_found" and "start_from" in hidden.value.fields
    with pytest.raises(ApplicationError) as procedural:
        services.job_request(
            owner=bob,
            kind="video",
            prompt="waves",
            duration_s=2,
            backend="procedural",
            start_from=picture.assets.get().id,
        )
    assert procedural.value.code == "invalid" and "start_from" in procedural.value.fields


@pytest.mark.django_db
def test_extend_uploads_the_clips_last_frame(comfy, alice, django_capture_on_commit_callbacks):
    clip_job = _video_job(alice, django_capture_on_commit_callbacks, duration_s=2)
    services.job_run(job_id=clip_job.id)
    clip = clip_job.assets.get()
    with django_capture_on_commit_callbacks():
        edit = services.edit_request(
            owner=alice, op="extend", assets=[clip.id], duration_s=2, prompt="it reaches the sea"
        )
    services.job_run(job_id=edit.id)
    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED, edit.error
    assert video.probe(_read(edit.assets.get())).duration_s == pytest.approx(4.0, abs=1 / 24)

    graph = comfy.prompts[-1]["graph"]
    assert graph["6"]["inputs"]["text"] == "it reaches the sea"
    # No negative prompt asked for: the workflow's own (the model's recommended one) is kept.
    template = json.loads((WORKFLOWS / "wan22-ti2v.json").read_text())
    assert graph["7"]["inputs"]["text"] == template["7"]["inputs"]["text"] != ""
    with Image.open(io.BytesIO(comfy.uploads[graph["56"]["inputs"]["image"]])) as sent:
        sent_rgb = np.asarray(sent.convert("RGB").resize((1280, 720)), dtype=np.int16)
    last = video.last_frame(_read(clip)).astype(np.int16)
    assert float(np.abs(sent_rgb - last).mean()) < 12.0


# --- cancel ---------------------------------------------------------------------------------------


def _run_in_thread(job_id: int) -> threading.Thread:
    from django.db import connection

    def run() -> None:
        try:
            services.job_run(job_id=job_id)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_cancel_while_queued_deletes_the_prompt_from_the_servers_queue(
    comfy, alice, django_capture_on_commit_callbacks
):
    comfy.hold()
    job = _image_job(alice, django_capture_on_commit_callbacks)
    thread = _run_in_thread(job.id)
    _wait(lambda: comfy.prompts, what="the prompt to reach the server")
    services.job_cancel(owner=alice, job_id=job.id)
    thread.join(timeout=20)
    assert not thread.is_alive()
    prompt_id = comfy.prompts[0]["prompt_id"]
    assert comfy.deletes == [prompt_id]
    assert not comfy.interrupts
    comfy.release()
    job.refresh_from_db()
    assert job.status == Status.CANCELED and not job.assets.exists()


@pytest.mark.django_db(transaction=True)
def test_cancel_while_running_interrupts_the_prompt(
    settings, alice, django_capture_on_commit_callbacks
):
    with ComfyStandin(step_s=0.5) as server:
        _configure(settings, server)
        job = _image_job(alice, django_capture_on_commit_callbacks, quality="final")
        thread = _run_in_thread(job.id)
        _wait(
            lambda: GenerationJob.objects.get(id=job.id).progress > 0.05,
            what="the sampler to start",
        )
        services.job_cancel(owner=alice, job_id=job.id)
        thread.join(timeout=20)
        _forget(server)
    assert not thread.is_alive()
    assert [i.get("prompt_id") for i in server.interrupts] == [server.prompts[0]["prompt_id"]]
    assert server.executed == []
    job.refresh_from_db()
    assert job.status == Status.CANCELED and not job.assets.exists()


# --- failures a creator can read ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("oom", "The GPU ran out of memory"),
        ("execution_error", "The ComfyUI server could not make this"),
        ("interrupted", "The server's operator stopped this job."),
    ],
)
@pytest.mark.django_db
def test_a_failed_prompt_fails_the_job_with_a_reason_and_refunds_it(
    comfy, alice, django_capture_on_commit_callbacks, fault, reason
):
    from apps.generation.quotas import quota_usage

    before = quota_usage(user_id=alice.pk)["used_today"]
    comfy.fail_next(fault)
    job = _image_job(alice, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.job_run(job_id=job.id)
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.error.startswith(reason), job.error
    assert not job.assets.exists()
    assert quota_usage(user_id=alice.pk)["used_today"] == before


@pytest.mark.django_db
def test_a_socket_dropped_mid_run_still_ends_with_the_result(
    settings, alice, django_capture_on_commit_callbacks
):
    with ComfyStandin(step_s=0.1) as server:
        _configure(settings, server)
        server.fail_next("drop_socket", at_step=2)
        job = _image_job(alice, django_capture_on_commit_callbacks, quality="final")
        services.job_run(job_id=job.id)
        _forget(server)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, job.error
    assert job.assets.count() == 1 and len(server.prompts) == 1


@pytest.mark.django_db
def test_the_servers_credentials_are_sent_and_a_refusal_is_readable(
    settings, alice, django_capture_on_commit_callbacks, monkeypatch
):
    with ComfyStandin(auth="Bearer s3cret") as server:
        _configure(settings, server)
        monkeypatch.setenv("COMFYUI_AUTH_HEADER", "Authorization: Bearer s3cret")
        job = _image_job(alice, django_capture_on_commit_callbacks)
        services.job_run(job_id=job.id)
        job.refresh_from_db()
        assert job.status == Status.SUCCEEDED, job.error
        _forget(server)
        assert "s3cret" not in str(backend_get(IMAGE).describe())


# --- the pool ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_least_busy_server_gets_the_job(
    settings, standin, second, alice, django_capture_on_commit_callbacks
):
    _configure(settings, standin, second)
    standin.pretend_queue = 3
    job = _image_job(alice, django_capture_on_commit_callbacks, count=2)
    services.job_run(job_id=job.id)
    assert len(second.prompts) == 2 and not standin.prompts


@pytest.mark.django_db(transaction=True)
def test_a_server_dying_mid_job_hands_it_to_another_with_one_set_of_assets(
    settings, standin, second, celery_worker, alice, django_capture_on_commit_callbacks
):
    _configure(settings, standin, second)
    second.pretend_queue = 2  # the first server is chosen first
    standin.fail_next("die", at_step=1)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_request(
            owner=alice,
            kind="video",
            prompt="a boat",
            backend=VIDEO,
            duration_s=1,
            aspect_ratio="16:9",
            quality="draft",
        )
    job = _wait(
        lambda: GenerationJob.objects.filter(id=job.id, status__in=["succeeded", "failed"]).first(),
        timeout=60,
        what="the job to finish on the second server",
    )
    assert job.status == Status.SUCCEEDED, job.error
    assert job.attempts == 2
    assert len(standin.prompts) == 1 and len(second.prompts) == 1
    assert second.executed == [second.prompts[0]["prompt_id"]]
    assert job.assets.count() == 1
    assert ProvenanceRecord.objects.filter(asset__job=job).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_grid_broken_off_by_a_dying_server_goes_on_from_where_it_stopped(
    settings, second, celery_worker, alice, django_capture_on_commit_callbacks
):
    first = ComfyStandin(step_s=0.3).start()
    try:
        _configure(settings, first, second)
        second.pretend_queue = 2  # the first server is chosen while it answers
        with django_capture_on_commit_callbacks(execute=True):
            job = services.job_request(
                owner=alice,
                kind="image",
                prompt="a fox",
                backend=IMAGE,
                quality="final",
                count=3,
                seed=10,
            )
        # The first server dies while it makes the second picture.
        _wait(lambda: len(first.prompts) == 2, what="the second picture to start")
        first.stop()
        job = _wait(
            lambda: GenerationJob.objects.filter(
                id=job.id, status__in=["succeeded", "failed"]
            ).first(),
            timeout=60,
            what="the grid to finish",
        )
    finally:
        first.stop()
        _forget(first)
    assert job.status == Status.SUCCEEDED, job.error
    assert len(first.executed) == 1 and len(second.prompts) == 2
    records = ProvenanceRecord.objects.filter(asset__job=job)
    assert sorted(records.values_list("seed", flat=True)) == [10, 11, 12]
    assert job.assets.count() == 3


@pytest.mark.django_db
def test_with_no_server_reachable_the_request_is_refused_at_once(settings, api, alice):
    _configure(settings, "http://127.0.0.1:9")
    listed = {b["id"]: b for b in api(alice).get("/api/v1/generation/backends").json()}
    assert listed[IMAGE]["available"] is False
    assert "No ComfyUI server is reachable" in listed[IMAGE]["unavailable_reason"]
    answer = api(alice).post(
        "/api/v1/generations",
        {"kind": "image", "prompt": "a fox", "backend": IMAGE},
        format="json",
    )
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "unavailable"
    assert answer.headers["Retry-After"]
    assert not GenerationJob.objects.filter(owner=alice).exists()


# --- workflows that do not fit ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_workflow_that_does_not_fit_the_server_fails_naming_node_and_input(
    settings, alice, django_capture_on_commit_callbacks, capsys
):
    import copy
    import json

    info = json.loads((Path(__file__).parent / "comfyui_object_info.json").read_text())
    broken = copy.deepcopy(info)
    del broken["Wan22ImageToVideoLatent"]
    # The server lacks the video node, and its KSampler has no "steps" input.
    broken["KSampler"]["input"]["required"].pop("steps")
    with ComfyStandin(object_info=broken) as server:
        _configure(settings, server)
        job = _video_job(alice, django_capture_on_commit_callbacks)
        services.job_run(job_id=job.id)
        with pytest.raises(CommandError):
            call_command("comfyui_check")
        _forget(server)
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert "node 55 is a Wan22ImageToVideoLatent, which the server does not have" in job.error
    assert not server.prompts  # nothing was sent to a server it cannot run on
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Wan22ImageToVideoLatent" in text
    assert "steps is mapped to node 3 (KSampler) input steps, which KSampler does not take" in text


@pytest.mark.django_db
def test_the_check_passes_when_everything_fits(comfy, capsys):
    call_command("comfyui_check")
    assert "Every ComfyUI server and workflow is fine." in capsys.readouterr().out


def _write(folder: Path, slug: str, graph: dict, mapping: dict) -> Path:
    import json

    (folder / f"{slug}.json").write_text(json.dumps(graph))
    (folder / f"{slug}.vivid.json").write_text(json.dumps(mapping))
    return folder / f"{slug}.json"


GRAPH = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 4}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": ""}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["3", 0]}},
}
MAPPING = {
    "kinds": ["image"],
    "inputs": {"prompt": "6.text", "seed": "3.seed", "width": "5.width", "height": "5.height"},
    "output": "9",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"inputs": {**MAPPING["inputs"], "seed": "3.noise_seed"}},
            "names input 'noise_seed' of node 3 (KSampler)",
        ),
        (
            {"inputs": {**MAPPING["inputs"], "prompt": "12.text"}},
            "names node 12, which the workflow lacks",
        ),
        ({"output": "99"}, "output names node 99"),
        ({"kinds": ["sound"]}, '"kinds" is a list of image and/or video'),
        ({"kinds": ["video"]}, "a video workflow maps frames"),
        ({"sizes": {"image": ["huge"]}}, "is not a size"),
    ],
)
def test_a_mapping_that_does_not_fit_its_workflow_is_refused_by_name(tmp_path, change, message):
    path = _write(tmp_path, "mine", GRAPH, {**MAPPING, **change})
    with pytest.raises(WorkflowError) as refused:
        workflow_load(path)
    assert message in str(refused.value)
    assert "mine.vivid.json" in str(refused.value)


@pytest.mark.django_db
def test_a_broken_file_in_the_folder_leaves_the_others_usable(settings, standin, tmp_path, capsys):
    import shutil

    for f in WORKFLOWS.glob("sdxl-turbo*.json"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "broken.vivid.json").write_text("{}")
    _configure(settings, standin, workflows_dir=tmp_path)
    assert backend_get(IMAGE) is not None and backend_get("comfyui:broken") is None
    with pytest.raises(CommandError):
        call_command("comfyui_check")
    assert "broken.json: not valid JSON" in capsys.readouterr().err


@pytest.mark.django_db
def test_a_starting_worker_logs_each_problem_for_the_operator(settings, standin, caplog):
    import logging

    from apps.config.celery import _comfyui_startup_check

    _configure(settings, standin, "http://127.0.0.1:9")
    settings.COMFYUI_URLS = [standin.url, "http://127.0.0.1:9"]

    class Worker:  # what Celery's worker_ready signal sends: a consumer of the generation queue
        class task_consumer:
            queues = [type("Queue", (), {"name": "generation"})()]

    with caplog.at_level(logging.INFO, logger="apps.generation.backends.comfyui"):
        _comfyui_startup_check(sender=Worker)
        _wait(
            lambda: any("fits every reachable server" in r.getMessage() for r in caplog.records),
            what="the start-up check",
        )
    messages = [r.getMessage() for r in caplog.records]
    assert any("ComfyUI: ComfyUI server 127.0.0.1:9 is not reachable" in m for m in messages)
    assert any(f"{IMAGE} fits every reachable server" in m for m in messages)
