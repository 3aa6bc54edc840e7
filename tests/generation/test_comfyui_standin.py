"""The ComfyUI stand-in speaks ComfyUI's API: checked with a plain HTTP and socket client, the way
the ``comfyui`` backend talks to a real server, so its tests can trust what they are told."""

from __future__ import annotations

import copy
import io
import json
import time
from pathlib import Path

import av
import numpy as np
import pytest
import requests
from PIL import Image
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.generation.comfyui_standin import ComfyStandin, builtin_object_info, model_sha256

CKPT = "sd_xl_turbo_1.0_fp16.safetensors"

IMAGE_GRAPH = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
    "5": {
        "class_type": "EmptyLatentImage",
        "inputs": {"width": 64, "height": 48, "batch_size": 1},
    },
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "model": ["4", 0],
            "seed": 7,
            "steps": 3,
            "cfg": 1.0,
            "sampler_name": "euler",
            "scheduler": "normal",
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
            "denoise": 1.0,
        },
    },
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
}

VIDEO_GRAPH = {
    "37": {
        "class_type": "UNETLoader",
        "inputs": {"unet_name": "wan2.2_ti2v_5B_fp16.safetensors", "weight_dtype": "default"},
    },
    "38": {
        "class_type": "CLIPLoader",
        "inputs": {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "type": "wan"},
    },
    "39": {"class_type": "VAELoader", "inputs": {"vae_name": "wan2.2_vae.safetensors"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "waves", "clip": ["38", 0]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["38", 0]}},
    "56": {"class_type": "LoadImage", "inputs": {"image": "start.png"}},
    "55": {
        "class_type": "Wan22ImageToVideoLatent",
        "inputs": {
            "vae": ["39", 0],
            "width": 64,
            "height": 48,
            "length": 5,
            "batch_size": 1,
            "start_image": ["56", 0],
        },
    },
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "model": ["37", 0],
            "seed": 1,
            "steps": 2,
            "cfg": 5.0,
            "sampler_name": "uni_pc",
            "scheduler": "simple",
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["55", 0],
            "denoise": 1.0,
        },
    },
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["39", 0]}},
    "57": {"class_type": "CreateVideo", "inputs": {"images": ["8", 0], "fps": 12.0}},
    "58": {
        "class_type": "SaveVideo",
        "inputs": {
            "video": ["57", 0],
            "filename_prefix": "video/ComfyUI",
            "format": "auto",
            "codec": "auto",
        },
    },
}


@pytest.fixture
def comfy():
    # The built-in node classes, so these tests do not depend on the exported object_info file.
    with ComfyStandin(object_info=builtin_object_info(), step_s=0.005) as server:
        yield server


def graph(**changes) -> dict:
    """The image graph with ``{"<node>.<input>": value}`` changes."""
    g = copy.deepcopy(IMAGE_GRAPH)
    for key, value in changes.items():
        node, name = key.split("__")
        g[node]["inputs"][name] = value
    return g


def ws_url(server: ComfyStandin, client_id: str) -> str:
    return f"{server.ws_url}?clientId={client_id}"


def submit(server: ComfyStandin, g: dict, client_id: str = "c1", **headers) -> requests.Response:
    return requests.post(
        f"{server.url}/prompt", json={"prompt": g, "client_id": client_id}, headers=headers
    )


def until_done(ws, prompt_id: str, timeout: float = 10) -> list[dict]:
    """Socket messages (text ones) up to ComfyUI's end marker: executing with node null."""
    messages = []
    deadline = time.monotonic() + timeout
    while True:
        raw = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(raw, bytes):
            continue
        message = json.loads(raw)
        messages.append(message)
        data = message["data"]
        if message["type"] == "executing" and data["node"] is None:
            assert data["prompt_id"] == prompt_id
            return messages


def story(messages: list[dict]) -> list[tuple]:
    """The messages about the prompt, without the broadcasts (status, progress_state)."""
    out = []
    for m in messages:
        t, d = m["type"], m["data"]
        if t in ("status", "progress_state"):
            continue
        if t == "executing":
            out.append((t, d["node"]))
        elif t == "progress":
            out.append((t, d["node"], d["value"], d["max"]))
        elif t == "executed":
            out.append((t, d["node"]))
        elif t == "execution_cached":
            out.append((t, tuple(d["nodes"])))
        else:
            out.append((t,))
    return out


def history(server: ComfyStandin, prompt_id: str) -> dict:
    return requests.get(f"{server.url}/history/{prompt_id}").json()[prompt_id]


def view(server: ComfyStandin, entry: dict) -> requests.Response:
    return requests.get(f"{server.url}/view", params=entry)


def png_bytes(colour: tuple[int, int, int], size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


# --- a prompt end to end --------------------------------------------------------------------------


def test_an_image_prompt_runs_with_comfyuis_messages_in_order(comfy):
    with connect(ws_url(comfy, "c1")) as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert hello == {
            "type": "status",
            "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "c1"},
        }
        response = submit(comfy, graph(**{"5__batch_size": 2}))
        assert response.status_code == 200
        body = response.json()
        assert body["number"] == 0 and body["node_errors"] == {}
        prompt_id = body["prompt_id"]
        messages = until_done(ws, prompt_id)

    assert story(messages) == [
        ("execution_start",),
        ("execution_cached", ()),
        ("executing", "4"),
        ("executing", "6"),
        ("executing", "7"),
        ("executing", "5"),
        ("executing", "3"),
        ("progress", "3", 1, 3),
        ("progress", "3", 2, 3),
        ("progress", "3", 3, 3),
        ("executing", "8"),
        ("executing", "9"),
        ("executed", "9"),
        ("execution_success",),
        ("executing", None),
    ]
    assert all(m["data"]["prompt_id"] == prompt_id for m in messages if m["type"] != "status")
    assert any(m["type"] == "status" for m in messages[1:])  # queue changes are broadcast

    entry = history(comfy, prompt_id)
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
    assert [m[0] for m in entry["status"]["messages"]] == [
        "execution_start",
        "execution_cached",
        "execution_success",
    ]
    number, pid, sent_graph, extra, outputs = entry["prompt"]
    assert (number, pid, outputs, extra["client_id"]) == (0, prompt_id, ["9"], "c1")
    assert sent_graph["3"]["inputs"]["seed"] == 7
    images = entry["outputs"]["9"]["images"]
    assert images == [
        {"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"},
        {"filename": "ComfyUI_00002_.png", "subfolder": "", "type": "output"},
    ]
    executed = next(m for m in messages if m["type"] == "executed")
    assert executed["data"]["output"] == {"images": images}

    first = view(comfy, images[0])
    assert first.status_code == 200 and first.headers["Content-Type"] == "image/png"
    picture = Image.open(io.BytesIO(first.content))
    assert picture.size == (64, 48)
    assert json.loads(picture.info["prompt"])["9"]["class_type"] == "SaveImage"
    second = Image.open(io.BytesIO(view(comfy, images[1]).content))
    assert np.asarray(picture).tolist() != np.asarray(second).tolist()  # seed, seed+1

    assert comfy.executed == [prompt_id]
    assert prompt_id in comfy.result_at
    assert comfy.prompts == [{"prompt_id": prompt_id, "client_id": "c1", "graph": sent_graph}]
    assert ("POST", "/prompt") in comfy.requests
    assert (
        view(comfy, {"filename": "nope.png", "subfolder": "", "type": "output"}).status_code == 404
    )


def test_another_seed_draws_another_picture_and_unchanged_nodes_come_from_cache(comfy):
    with connect(ws_url(comfy, "c1")) as ws:
        first_id = submit(comfy, graph()).json()["prompt_id"]
        until_done(ws, first_id)
        second_id = submit(comfy, graph(**{"3__seed": 8})).json()["prompt_id"]
        second = story(until_done(ws, second_id))
        again_id = submit(comfy, graph(**{"3__seed": 8})).json()["prompt_id"]
        again = story(until_done(ws, again_id))

    # The loaders and prompts did not change: ComfyUI does not run them again.
    assert second[1] == ("execution_cached", ("4", "5", "6", "7"))
    assert ("executing", "4") not in second and ("executing", "3") in second
    # The very same prompt again: everything cached, the output node reports its earlier files.
    assert again == [
        ("execution_start",),
        ("execution_cached", ("4", "5", "6", "7", "3", "8", "9")),
        ("executed", "9"),
        ("execution_success",),
        ("executing", None),
    ]
    a = history(comfy, first_id)["outputs"]["9"]["images"][0]
    b = history(comfy, second_id)["outputs"]["9"]["images"][0]
    assert history(comfy, again_id)["outputs"]["9"]["images"][0] == b
    pixels_a = np.asarray(Image.open(io.BytesIO(view(comfy, a).content)), np.int16)
    pixels_b = np.asarray(Image.open(io.BytesIO(view(comfy, b).content)), np.int16)
    assert np.abs(pixels_a - pixels_b).mean() > 20  # visibly different


def test_prompts_run_one_at_a_time_in_arrival_order(comfy):
    comfy.hold()
    ids = [submit(comfy, graph(**{"3__seed": s})).json()["prompt_id"] for s in (1, 2, 3)]
    queue = requests.get(f"{comfy.url}/queue").json()
    assert queue["queue_running"] == []
    assert [item[1] for item in queue["queue_pending"]] == ids
    assert [item[0] for item in queue["queue_pending"]] == [0, 1, 2]
    assert queue["queue_pending"][0][3]["client_id"] == "c1"
    comfy.release()
    deadline = time.monotonic() + 10
    while len(comfy.executed) < 3 and time.monotonic() < deadline:
        running = requests.get(f"{comfy.url}/queue").json()["queue_running"]
        assert len(running) <= 1
        time.sleep(0.005)
    assert comfy.executed == ids
    assert comfy.result_at[ids[0]] < comfy.result_at[ids[1]] < comfy.result_at[ids[2]]


def test_a_busy_server_reports_its_pretend_queue(comfy):
    comfy.pretend_queue = 3
    assert len(requests.get(f"{comfy.url}/queue").json()["queue_pending"]) == 3
    with connect(ws_url(comfy, "c9")) as ws:
        hello = json.loads(ws.recv(timeout=5))
    assert hello["data"]["status"]["exec_info"]["queue_remaining"] == 3


# --- video ----------------------------------------------------------------------------------------


def test_a_video_prompt_renders_an_h264_clip_starting_on_the_uploaded_picture(comfy):
    upload = requests.post(
        f"{comfy.url}/upload/image",
        files={"image": ("start.png", png_bytes((250, 20, 20)), "image/png")},
        data={"type": "input", "overwrite": "true"},
    )
    assert upload.json() == {"name": "start.png", "subfolder": "", "type": "input"}
    assert comfy.uploads["start.png"] == png_bytes((250, 20, 20))
    info = requests.get(f"{comfy.url}/object_info/LoadImage").json()
    assert "start.png" in info["LoadImage"]["input"]["required"]["image"][0]

    with connect(ws_url(comfy, "v1")) as ws:
        prompt_id = submit(comfy, VIDEO_GRAPH, client_id="v1").json()["prompt_id"]
        messages = until_done(ws, prompt_id)
    executed = next(m for m in messages if m["type"] == "executed")["data"]
    assert executed["node"] == "58"
    outputs = history(comfy, prompt_id)["outputs"]
    assert outputs["58"] == {
        "images": [{"filename": "ComfyUI_00001_.mp4", "subfolder": "video", "type": "output"}],
        "animated": [True],
    }
    clip = view(comfy, outputs["58"]["images"][0])
    assert clip.headers["Content-Type"] == "video/mp4"
    with av.open(io.BytesIO(clip.content)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.average_rate == 12
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == 5 and frames[0].shape == (48, 64, 3)
    assert np.abs(frames[0].astype(int) - [250, 20, 20]).mean() < 12  # the start picture
    assert np.abs(frames[-1].astype(int) - frames[0]).mean() > 1  # then it moves


def test_without_the_start_picture_loadimage_fails_validation_like_comfyui(comfy):
    response = submit(comfy, VIDEO_GRAPH)
    assert response.status_code == 400
    errors = response.json()["node_errors"]["56"]["errors"]
    assert errors[0]["type"] == "custom_validation_failed"
    assert errors[0]["details"] == "image - Invalid image file: start.png"


def test_vhs_video_combine_reports_gifs_as_the_video_helper_suite_does(comfy):
    g = copy.deepcopy(VIDEO_GRAPH)
    del g["56"], g["55"]["inputs"]["start_image"], g["57"], g["58"]
    g["60"] = {
        "class_type": "VHS_VideoCombine",
        "inputs": {
            "images": ["8", 0],
            "frame_rate": 8,
            "loop_count": 0,
            "filename_prefix": "Wan",
            "format": "video/h264-mp4",
            "pingpong": False,
            "save_output": True,
        },
    }
    with connect(ws_url(comfy, "c1")) as ws:
        prompt_id = submit(comfy, g).json()["prompt_id"]
        until_done(ws, prompt_id)
    gif = history(comfy, prompt_id)["outputs"]["60"]["gifs"][0]
    assert gif["filename"] == "Wan_00001.mp4" and gif["workflow"] == "Wan_00001.png"
    assert (gif["type"], gif["format"], gif["frame_rate"]) == ("output", "video/h264-mp4", 8)
    with av.open(io.BytesIO(view(comfy, gif).content)) as container:
        assert container.streams.video[0].frames == 5


# --- validation -----------------------------------------------------------------------------------


def test_an_unknown_node_class_is_refused_with_comfyuis_error():
    with ComfyStandin(object_info=builtin_object_info()) as comfy:
        g = graph()
        g["3"]["class_type"] = "KSamplerTurbo"
        response = submit(comfy, g)
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "type": "missing_node_type",
            "message": "Node 'KSamplerTurbo' not found. The custom node may not be installed.",
            "details": "Node ID '#3'",
            "extra_info": {
                "node_id": "3",
                "class_type": "KSamplerTurbo",
                "node_title": "KSamplerTurbo",
            },
        },
        "node_errors": {},
    }
    assert comfy.prompts == []


@pytest.mark.parametrize(
    ("change", "node", "error_type", "details"),
    [
        (lambda g: g["3"]["inputs"].pop("steps"), "3", "required_input_missing", "steps"),
        (
            lambda g: g["4"]["inputs"].update(ckpt_name="missing.safetensors"),
            "4",
            "value_not_in_list",
            "ckpt_name: 'missing.safetensors' not in "
            "['sd_xl_turbo_1.0_fp16.safetensors', 'v1-5-pruned-emaonly-fp16.safetensors']",
        ),
        (
            lambda g: g["3"]["inputs"].update(model=["99", 0]),
            "3",
            "exception_during_inner_validation",
            "'99'",
        ),
        (
            lambda g: g["3"]["inputs"].update(positive=["5", 0]),
            "3",
            "return_type_mismatch",
            "positive, received_type(LATENT) mismatch input_type(CONDITIONING)",
        ),
        (
            lambda g: g["5"]["inputs"].update(width=8),
            "5",
            "value_smaller_than_min",
            "width",
        ),
    ],
)
def test_an_invalid_graph_is_refused_with_node_errors(comfy, change, node, error_type, details):
    g = graph()
    change(g)
    response = submit(comfy, g)
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert body["error"]["message"] == "Prompt outputs failed validation"
    assert body["node_errors"][node]["class_type"] == g[node]["class_type"]
    assert body["node_errors"][node]["dependent_outputs"] == ["9"]
    error = body["node_errors"][node]["errors"][0]
    assert (error["type"], error["details"]) == (error_type, details)
    assert comfy.prompts == []


def test_a_request_without_a_prompt_is_refused(comfy):
    response = requests.post(f"{comfy.url}/prompt", json={"client_id": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "no_prompt"


# --- faults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "last", "exception_type"),
    [
        ("execution_error", "execution_error", "RuntimeError"),
        ("oom", "execution_error", "torch.OutOfMemoryError"),
        ("interrupted", "execution_interrupted", None),
    ],
)
def test_a_failing_prompt_ends_as_comfyui_reports_it(comfy, kind, last, exception_type):
    comfy.fail_next(kind, at_step=2)
    with connect(ws_url(comfy, "c1")) as ws:
        prompt_id = submit(comfy, graph()).json()["prompt_id"]
        messages = until_done(ws, prompt_id)
        after_id = submit(comfy, graph(**{"3__seed": 99})).json()["prompt_id"]
        after = story(until_done(ws, after_id))

    told = story(messages)
    assert told[-3:] == [("progress", "3", 1, 3), (last,), ("executing", None)]
    failure = next(m["data"] for m in messages if m["type"] == last)
    assert (failure["prompt_id"], failure["node_id"], failure["node_type"]) == (
        prompt_id,
        "3",
        "KSampler",
    )
    assert failure["executed"] == ["4", "6", "7", "5"]
    if exception_type:
        assert failure["exception_type"] == exception_type
        assert isinstance(failure["traceback"], list)
    if kind == "oom":
        assert "out of memory" in failure["exception_message"]
        assert "TIPS: If the workflow worked before" in failure["exception_message"]
    status = history(comfy, prompt_id)["status"]
    assert (status["status_str"], status["completed"]) == ("error", False)
    assert status["messages"][-1][0] == last
    assert prompt_id not in comfy.executed
    assert after[-2:] == [("execution_success",), ("executing", None)]  # only the next prompt


def test_a_dropped_socket_leaves_the_prompt_running_and_a_reconnect_is_told_where_it_is():
    with ComfyStandin(object_info=builtin_object_info(), step_s=0.05) as comfy:
        comfy.fail_next("drop_socket", at_step=2)
        with connect(ws_url(comfy, "c1")) as ws:
            prompt_id = submit(comfy, graph(**{"3__steps": 30})).json()["prompt_id"]
            with pytest.raises(ConnectionClosed):
                until_done(ws, prompt_id)
        with connect(ws_url(comfy, "c1")) as again:
            hello = json.loads(again.recv(timeout=5))
            current = json.loads(again.recv(timeout=5))
            assert hello["type"] == "status" and hello["data"]["sid"] == "c1"
            assert current == {"type": "executing", "data": {"node": "3"}}
            rest = story(until_done(again, prompt_id))
        assert rest[-2:] == [("execution_success",), ("executing", None)]
        assert history(comfy, prompt_id)["status"]["status_str"] == "success"


def test_a_dying_server_refuses_everything_until_it_is_revived_on_the_same_port(comfy):
    comfy.fail_next("die", at_step=2)
    url = comfy.url
    with connect(ws_url(comfy, "c1")) as ws:
        prompt_id = submit(comfy, graph()).json()["prompt_id"]
        with pytest.raises(ConnectionClosed):
            until_done(ws, prompt_id)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/queue", timeout=2)
    comfy.revive()
    assert comfy.url == url
    assert requests.get(f"{url}/queue").json() == {"queue_running": [], "queue_pending": []}
    assert requests.get(f"{url}/history/{prompt_id}").json() == {}  # a restart forgets
    with connect(ws_url(comfy, "c1")) as ws:
        again = submit(comfy, graph()).json()["prompt_id"]
        assert story(until_done(ws, again))[-2:] == [("execution_success",), ("executing", None)]


# --- cancel ---------------------------------------------------------------------------------------


def test_a_queued_prompt_is_deleted_and_a_running_one_interrupted(comfy):
    comfy.step_s = 0.05
    comfy.hold()
    with connect(ws_url(comfy, "c1")) as ws:
        first = submit(comfy, graph(**{"3__steps": 50})).json()["prompt_id"]
        second = submit(comfy, graph(**{"3__seed": 2})).json()["prompt_id"]
        requests.post(f"{comfy.url}/queue", json={"delete": [second]}).raise_for_status()
        assert [i[1] for i in requests.get(f"{comfy.url}/queue").json()["queue_pending"]] == [first]
        comfy.release()
        while json.loads(ws.recv(timeout=5))["type"] != "progress":
            pass
        # An interrupt for another prompt leaves this one alone.
        requests.post(f"{comfy.url}/interrupt", json={"prompt_id": second}).raise_for_status()
        requests.post(f"{comfy.url}/interrupt", json={"prompt_id": first}).raise_for_status()
        told = story(until_done(ws, first))
    assert told[-2:] == [("execution_interrupted",), ("executing", None)]
    assert comfy.deletes == [second]
    assert comfy.interrupts == [{"prompt_id": second}, {"prompt_id": first}]
    assert requests.get(f"{comfy.url}/history/{second}").json() == {}
    assert comfy.executed == []


def test_clearing_the_queue_and_a_plain_interrupt(comfy):
    comfy.step_s = 0.05
    comfy.hold()
    ids = [
        submit(comfy, graph(**{"3__seed": s, "3__steps": 50})).json()["prompt_id"] for s in (1, 2)
    ]
    with connect(ws_url(comfy, "c1")) as ws:
        comfy.release()
        while json.loads(ws.recv(timeout=5))["type"] != "progress":
            pass
        requests.post(f"{comfy.url}/queue", json={"clear": True}).raise_for_status()
        requests.post(f"{comfy.url}/interrupt").raise_for_status()
        until_done(ws, ids[0])
    assert requests.get(f"{comfy.url}/queue").json() == {"queue_running": [], "queue_pending": []}
    assert history(comfy, ids[0])["status"]["status_str"] == "error"
    assert comfy.interrupts == [{}]


# --- auth, models, system -------------------------------------------------------------------------


def test_with_auth_every_request_and_socket_needs_the_header():
    with ComfyStandin(object_info=builtin_object_info(), auth="Bearer s3cret") as comfy:
        assert requests.get(f"{comfy.url}/queue").status_code == 401
        assert submit(comfy, graph(), Authorization="Bearer wrong").status_code == 401
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(comfy, "c1"))
        assert refused.value.response.status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        assert requests.get(f"{comfy.url}/queue", headers=good).status_code == 200
        with connect(ws_url(comfy, "c1"), additional_headers=good) as ws:
            prompt_id = submit(comfy, graph(), **good).json()["prompt_id"]
            until_done(ws, prompt_id)
        assert comfy.executed == [prompt_id]


def test_model_files_are_the_loader_choices_and_have_a_reported_hash():
    files = {"checkpoints": ["flux1-dev.safetensors"], "loras": ["ink.safetensors"]}
    with ComfyStandin(object_info=builtin_object_info(), model_files=files) as comfy:
        info = requests.get(f"{comfy.url}/object_info").json()
        assert info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == [
            "flux1-dev.safetensors"
        ]
        meta = requests.get(
            f"{comfy.url}/view_metadata/checkpoints", params={"filename": "flux1-dev.safetensors"}
        ).json()
        assert meta["modelspec.hash_sha256"] == "0x" + model_sha256("flux1-dev.safetensors")
        assert len(meta["modelspec.hash_sha256"]) == 66
        unknown = requests.get(
            f"{comfy.url}/view_metadata/checkpoints", params={"filename": "other.safetensors"}
        )
        assert unknown.status_code == 404
        assert submit(comfy, graph()).status_code == 400  # the turbo checkpoint is not installed


def test_system_stats_has_comfyuis_shape(comfy):
    comfy.vram_free = 1_000
    stats = requests.get(f"{comfy.url}/api/system_stats").json()
    assert {"os", "ram_total", "ram_free", "comfyui_version"} <= set(stats["system"])
    device = stats["devices"][0]
    assert device["vram_free"] == 1_000 and device["vram_total"] > device["vram_free"]
    assert device["type"] == "cuda"


# --- the shipped example workflows, with the exported object_info -----------------------------

WORKFLOWS = Path(__file__).resolve().parents[2] / "platform" / "comfyui"


def example(slug: str) -> dict:
    return json.loads((WORKFLOWS / f"{slug}.json").read_text())


def test_the_sdxl_turbo_example_reports_progress_on_its_custom_sampler():
    g = example("sdxl-turbo")
    g["5"]["inputs"].update(width=64, height=64)
    g["22"]["inputs"]["steps"] = 4  # SDTurboScheduler: the sampler's steps come from its sigmas
    g["13"]["inputs"]["noise_seed"] = 3
    with ComfyStandin(step_s=0.005) as comfy:  # object_info: tests/generation's export
        with connect(ws_url(comfy, "c1")) as ws:
            prompt_id = submit(comfy, g).json()["prompt_id"]
            told = story(until_done(ws, prompt_id))
        saved = history(comfy, prompt_id)["outputs"]["27"]["images"]
    progress = [t for t in told if t[0] == "progress"]
    assert progress == [("progress", "13", v, 4) for v in (1, 2, 3, 4)]
    assert saved == [{"filename": "sdxl-turbo_00001_.png", "subfolder": "vivid", "type": "output"}]


def test_the_wan_example_runs_with_and_without_its_start_picture():
    g = example("wan22-ti2v")
    g["55"]["inputs"].update(width=64, height=48, length=9)
    g["3"]["inputs"]["steps"] = 2
    without = copy.deepcopy(g)
    del without["56"], without["55"]["inputs"]["start_image"]  # what Vivid sends with no picture
    with ComfyStandin(step_s=0.005) as comfy:
        with connect(ws_url(comfy, "c1")) as ws:
            ids = [submit(comfy, graph_).json()["prompt_id"] for graph_ in (g, without)]
            until_done(ws, ids[0])
            until_done(ws, ids[1])
        clips = [history(comfy, i)["outputs"]["58"]["images"][0] for i in ids]
        assert [c["filename"] for c in clips] == ["wan22-ti2v_00001_.mp4", "wan22-ti2v_00002_.mp4"]
        for clip in clips:
            with av.open(io.BytesIO(view(comfy, clip).content)) as container:
                stream = container.streams.video[0]
                assert (stream.width, stream.height, stream.frames) == (64, 48, 9)
                assert stream.average_rate == 24


def test_kill_is_a_crash_between_prompts(comfy):
    comfy.kill()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{comfy.url}/queue", timeout=2)
    comfy.revive()
    assert requests.get(f"{comfy.url}/queue").status_code == 200


def test_a_graph_with_one_bad_output_runs_the_good_one_as_comfyui_does(comfy):
    g = graph()
    g["10"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["99", 0]}}
    with connect(ws_url(comfy, "c1")) as ws:
        response = submit(comfy, g)
        assert response.status_code == 200
        body = response.json()
        until_done(ws, body["prompt_id"])
    error = body["node_errors"]["10"]["errors"][0]
    assert (error["type"], error["details"]) == ("exception_during_validation", "'99'")
    entry = history(comfy, body["prompt_id"])
    assert entry["prompt"][4] == ["9"] and list(entry["outputs"]) == ["9"]
    everything = requests.get(f"{comfy.url}/history").json()
    assert list(everything) == [body["prompt_id"]]
    assert requests.get(f"{comfy.url}/history", params={"max_items": 0}).json() == {}
