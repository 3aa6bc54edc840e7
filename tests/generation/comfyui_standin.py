"""A local stand-in for a ComfyUI server: its real HTTP and WebSocket API, without a GPU.

ComfyUI's own server is aiohttp, so this one is too: an ``aiohttp`` application on its own event
loop in a background thread, on 127.0.0.1 and a free port. It follows ComfyUI's ``server.py``,
``execution.py`` and ``main.py`` (prompt worker) closely, because the ``comfyui`` backend is only as
good as the server it is tested against:

- ``POST /prompt`` validates the graph the way ``execution.validate_prompt`` does (unknown class,
  missing required input, link to a missing node, wrong linked type, out-of-range number, combo
  value not in its choices, LoadImage of a file never uploaded), with ComfyUI's error shapes and
  ``node_errors``; a graph with one bad output among good ones runs the good ones, as ComfyUI does.
- One prompt at a time in FIFO order (one GPU). The socket messages follow ComfyUI's order:
  ``status`` broadcasts on every queue change, ``execution_start``, ``execution_cached``, then per
  node ``executing`` (``progress`` per step for a node with ``steps``, ``progress_state``
  broadcasts), ``executed`` for output nodes, ``execution_success``, then the history entry is
  written, then ``executing`` with node null. Errors and interrupts send ``execution_error`` /
  ``execution_interrupted`` instead of the success message and still end with node null.
- ComfyUI keeps the outputs of the last prompt: a node whose inputs did not change is listed in
  ``execution_cached`` and not run again (the same seed and prompt twice renders nothing new, and
  an output node then only gets ``executed`` with its earlier files). ``cache_outputs = False``
  turns that off.
- Outputs are real files, made from the graph's values: SaveImage writes one PNG per batch item at
  the latent node's size, coloured from the seed and the prompt text; SaveVideo,
  VHS_VideoCombine and SaveAnimatedWEBP write a real clip (H.264 MP4 through PyAV, or animated
  WEBP/GIF) of the latent node's ``length`` frames at the graph's fps, whose first frame is the
  uploaded start picture when a LoadImage feeds the latent node. History entries are shaped as
  those nodes report them (``images`` + ``animated`` for SaveVideo, ``gifs`` for VHS).

Faults (``fail_next``) reproduce what goes wrong with a real GPU box: a node raising, running out
of memory, an operator pressing cancel, a dropped socket while the prompt goes on, and the whole
server dying (``revive()`` brings it back on the same port, with an empty queue and history, as a
restarted ComfyUI has).

Cost, measured with ``step_s=0`` on the shared 2-core machine (load average 11): the SDXL Turbo
example at 512x512 takes 42 ms from ``POST /prompt`` to the end marker (median of 10); the Wan
example at its full 1280x704, 121 frames takes 2.3-3.4 s, nearly all of it H.264 encoding, so
tests shrink ``width``/``height``/``length``.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import hashlib
import io
import json
import math
import mimetypes
import random
import socket
import struct
import threading
import time
import uuid
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiohttp import WSMsgType, web
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

OBJECT_INFO_FILE = Path(__file__).with_name("comfyui_object_info.json")
FAULTS = ("execution_error", "oom", "interrupted", "drop_socket", "die")

# ComfyUI's folder for each loader input whose value names a model file (folder_paths names).
MODEL_INPUTS = {
    "ckpt_name": "checkpoints",
    "unet_name": "diffusion_models",
    "clip_name": "text_encoders",
    "clip_name1": "text_encoders",
    "clip_name2": "text_encoders",
    "vae_name": "vae",
    "lora_name": "loras",
}
# Legacy folder names ComfyUI still answers to.
FOLDER_ALIASES = {"unet": "diffusion_models", "clip": "text_encoders"}

DEFAULT_MODEL_FILES = {
    "checkpoints": ["sd_xl_turbo_1.0_fp16.safetensors", "v1-5-pruned-emaonly-fp16.safetensors"],
    "diffusion_models": ["wan2.2_ti2v_5B_fp16.safetensors"],
    "text_encoders": ["umt5_xxl_fp8_e4m3fn_scaled.safetensors"],
    "vae": ["wan2.2_vae.safetensors", "sdxl_vae.safetensors"],
    "loras": ["pixel_art_xl.safetensors"],
}

SAMPLERS = [
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2",
    "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp",
    "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm",
    "ipndm", "ipndm_v", "deis", "res_multistep", "res_multistep_cfg_pp", "gradient_estimation",
    "er_sde", "seeds_2", "seeds_3", "ddim", "uni_pc", "uni_pc_bh2",
]  # fmt: skip
SCHEDULERS = [
    "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
    "linear_quadratic", "kl_optimal",
]  # fmt: skip
CLIP_TYPES = [
    "stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi", "ltxv", "pixart",
    "cosmos", "lumina2", "wan", "hidream", "chroma", "ace", "omnigen2", "qwen_image",
    "hunyuan_image",
]  # fmt: skip
MAX_RESOLUTION = 16384

# The message ComfyUI adds to an out-of-memory error (execution.py), after torch's own text.
OOM_MESSAGE = (
    "CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has a total capacity of 23.55 GiB of "
    "which 1.21 GiB is free. Including non-PyTorch memory, this process has 22.33 GiB memory in "
    "use. Of the allocated memory 21.02 GiB is allocated by PyTorch, and 867.41 MiB is reserved "
    "by PyTorch but unallocated. If reserved but unallocated memory is large try setting "
    "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation "
    "for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"
    "\nThis error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before "
    "you might have accidentally set the batch_size to a large number."
)
NODE_ERROR_MESSAGE = "mat1 and mat2 shapes cannot be multiplied (154x2048 and 768x320)\n"


# --- object_info --------------------------------------------------------------------------------


def _node_info(
    name: str,
    required: dict,
    *,
    category: str,
    optional: dict | None = None,
    hidden: dict | None = None,
    output: tuple[str, ...] = (),
    output_name: tuple[str, ...] | None = None,
    output_node: bool = False,
    display_name: str | None = None,
    module: str = "nodes",
    description: str = "",
) -> dict:
    """One node class as ``GET /object_info`` reports it (``server.node_info``)."""
    inputs: dict[str, dict] = {"required": required}
    if optional:
        inputs["optional"] = optional
    if hidden:
        inputs["hidden"] = hidden
    return {
        "input": inputs,
        "input_order": {kind: list(values) for kind, values in inputs.items()},
        "output": list(output),
        "output_is_list": [False] * len(output),
        "output_name": list(output_name or output),
        "name": name,
        "display_name": display_name or name,
        "description": description,
        "python_module": module,
        "category": category,
        "output_node": output_node,
    }


def builtin_object_info(model_files: dict[str, list[str]] | None = None) -> dict[str, dict]:
    """The node classes of a stock image pipeline and a Wan 2.2 video pipeline, with the input
    names, types, defaults and limits of ComfyUI's ``nodes.py`` and ``comfy_extras``."""
    files = model_files or DEFAULT_MODEL_FILES
    png = {"hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}
    size = {"default": 512, "min": 16, "max": MAX_RESOLUTION, "step": 8}
    seed = {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "control_after_generate": True}
    sampler_common = {
        "cfg": ["FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01}],
        "sampler_name": [SAMPLERS],
        "scheduler": [SCHEDULERS],
        "positive": ["CONDITIONING"],
        "negative": ["CONDITIONING"],
        "latent_image": ["LATENT"],
    }
    nodes = [
        _node_info(
            "CheckpointLoaderSimple",
            {"ckpt_name": [list(files.get("checkpoints", []))]},
            output=("MODEL", "CLIP", "VAE"),
            category="loaders",
            display_name="Load Checkpoint",
        ),
        _node_info(
            "LoraLoader",
            {
                "model": ["MODEL"],
                "clip": ["CLIP"],
                "lora_name": [list(files.get("loras", []))],
                "strength_model": ["FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0}],
                "strength_clip": ["FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0}],
            },
            output=("MODEL", "CLIP"),
            category="loaders",
            display_name="Load LoRA",
        ),
        _node_info(
            "CLIPTextEncode",
            {
                "text": ["STRING", {"multiline": True, "dynamicPrompts": True}],
                "clip": ["CLIP"],
            },
            output=("CONDITIONING",),
            category="conditioning",
            display_name="CLIP Text Encode (Prompt)",
        ),
        _node_info(
            "EmptyLatentImage",
            {
                "width": ["INT", size],
                "height": ["INT", size],
                "batch_size": ["INT", {"default": 1, "min": 1, "max": 4096}],
            },
            output=("LATENT",),
            category="latent",
            display_name="Empty Latent Image",
        ),
        _node_info(
            "EmptySD3LatentImage",
            {
                "width": ["INT", {**size, "default": 1024, "step": 16}],
                "height": ["INT", {**size, "default": 1024, "step": 16}],
                "batch_size": ["INT", {"default": 1, "min": 1, "max": 4096}],
            },
            output=("LATENT",),
            category="latent/sd3",
            module="comfy_extras.nodes_sd3",
        ),
        _node_info(
            "KSampler",
            {
                "model": ["MODEL"],
                "seed": ["INT", seed],
                "steps": ["INT", {"default": 20, "min": 1, "max": 10000}],
                **sampler_common,
                "denoise": ["FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}],
            },
            output=("LATENT",),
            category="sampling",
        ),
        _node_info(
            "KSamplerAdvanced",
            {
                "model": ["MODEL"],
                "add_noise": [["enable", "disable"]],
                "noise_seed": ["INT", seed],
                "steps": ["INT", {"default": 20, "min": 1, "max": 10000}],
                **sampler_common,
                "start_at_step": ["INT", {"default": 0, "min": 0, "max": 10000}],
                "end_at_step": ["INT", {"default": 10000, "min": 0, "max": 10000}],
                "return_with_leftover_noise": [["disable", "enable"]],
            },
            output=("LATENT",),
            category="sampling",
            display_name="KSampler (Advanced)",
        ),
        _node_info(
            "VAEDecode",
            {"samples": ["LATENT"], "vae": ["VAE"]},
            output=("IMAGE",),
            category="latent",
            display_name="VAE Decode",
        ),
        _node_info(
            "SaveImage",
            {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]},
            **png,
            output_node=True,
            category="image",
            display_name="Save Image",
        ),
        _node_info(
            "LoadImage",
            {"image": [[], {"image_upload": True}]},
            output=("IMAGE", "MASK"),
            category="image",
            display_name="Load Image",
        ),
        _node_info(
            "UNETLoader",
            {
                "unet_name": [list(files.get("diffusion_models", []))],
                "weight_dtype": [["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]],
            },
            output=("MODEL",),
            category="advanced/loaders",
            display_name="Load Diffusion Model",
        ),
        _node_info(
            "CLIPLoader",
            {"clip_name": [list(files.get("text_encoders", []))], "type": [CLIP_TYPES]},
            optional={"device": [["default", "cpu"], {"advanced": True}]},
            output=("CLIP",),
            category="advanced/loaders",
            display_name="Load CLIP",
        ),
        _node_info(
            "VAELoader",
            {"vae_name": [list(files.get("vae", []))]},
            output=("VAE",),
            category="loaders",
            display_name="Load VAE",
        ),
        _node_info(
            "ModelSamplingSD3",
            {
                "model": ["MODEL"],
                "shift": ["FLOAT", {"default": 3.0, "min": 0.0, "max": 100.0, "step": 0.01}],
            },
            output=("MODEL",),
            category="advanced/model",
            module="comfy_extras.nodes_model_advanced",
        ),
        _node_info(
            "Wan22ImageToVideoLatent",
            {
                "vae": ["VAE"],
                "width": ["INT", {"default": 1280, "min": 32, "max": MAX_RESOLUTION, "step": 32}],
                "height": ["INT", {"default": 704, "min": 32, "max": MAX_RESOLUTION, "step": 32}],
                "length": ["INT", {"default": 49, "min": 1, "max": MAX_RESOLUTION, "step": 4}],
                "batch_size": ["INT", {"default": 1, "min": 1, "max": 4096}],
            },
            optional={"start_image": ["IMAGE"]},
            output=("LATENT",),
            category="conditioning/inpaint",
            module="comfy_extras.nodes_wan",
        ),
        _node_info(
            "CreateVideo",
            {
                "images": ["IMAGE", {"tooltip": "The images to create a video from."}],
                "fps": ["FLOAT", {"default": 30.0, "min": 1.0, "max": 120.0, "step": 1.0}],
            },
            optional={"audio": ["AUDIO", {"tooltip": "The audio to add to the video."}]},
            output=("VIDEO",),
            category="image/video",
            display_name="Create Video",
            module="comfy_extras.nodes_video",
        ),
        _node_info(
            "SaveVideo",
            {
                "video": ["VIDEO", {"tooltip": "The video to save."}],
                "filename_prefix": ["STRING", {"default": "video/ComfyUI"}],
                "format": ["COMBO", {"default": "auto", "options": ["auto", "mp4"]}],
                "codec": ["COMBO", {"default": "auto", "options": ["auto", "h264"]}],
            },
            **png,
            output_node=True,
            category="image/video",
            display_name="Save Video",
            module="comfy_extras.nodes_video",
        ),
        _node_info(
            "SaveAnimatedWEBP",
            {
                "images": ["IMAGE"],
                "filename_prefix": ["STRING", {"default": "ComfyUI"}],
                "fps": ["FLOAT", {"default": 6.0, "min": 0.01, "max": 1000.0, "step": 0.01}],
                "lossless": ["BOOLEAN", {"default": True}],
                "quality": ["INT", {"default": 80, "min": 0, "max": 100}],
                "method": [["default", "fastest", "slowest"]],
            },
            **png,
            output_node=True,
            category="image/animation",
            module="comfy_extras.nodes_images",
        ),
        _node_info(
            "VHS_VideoCombine",
            {
                "images": ["IMAGE"],
                "frame_rate": ["FLOAT", {"default": 8, "min": 1, "step": 1}],
                "loop_count": ["INT", {"default": 0, "min": 0, "max": 100, "step": 1}],
                "filename_prefix": ["STRING", {"default": "AnimateDiff"}],
                "format": [["image/gif", "image/webp", "video/h264-mp4", "video/h265-mp4"]],
                "pingpong": ["BOOLEAN", {"default": False}],
                "save_output": ["BOOLEAN", {"default": True}],
            },
            optional={"audio": ["AUDIO"], "meta_batch": ["VHS_BatchManager"], "vae": ["VAE"]},
            hidden={"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO", "unique_id": "UNIQUE_ID"},
            output=("VHS_FILENAMES",),
            output_name=("Filenames",),
            output_node=True,
            category="Video Helper Suite 🎥🅥🅗🅢",
            display_name="Video Combine 🎥🅥🅗🅢",
            module="custom_nodes.ComfyUI-VideoHelperSuite",
        ),
    ]
    return {node["name"]: node for node in nodes}


def combo_options(config: list) -> list | None:
    """The choices of a combo input, in either of ComfyUI's two spellings, else None."""
    if not config:
        return None
    if isinstance(config[0], list):
        return config[0]
    if config[0] == "COMBO":
        extra = config[1] if len(config) > 1 and isinstance(config[1], dict) else {}
        return list(extra.get("options", []))
    return None


def _set_combo(config: list, options: list) -> None:
    if isinstance(config[0], list):
        config[0] = list(options)
    elif config[0] == "COMBO":
        if len(config) < 2:
            config.append({})
        config[1]["options"] = list(options)


def _input_config(info: dict, name: str) -> tuple[list | None, str | None]:
    for category in ("required", "optional"):
        config = info.get("input", {}).get(category, {}).get(name)
        if config is not None:
            return config, category
    return None, None


def _linked_type_ok(received: Any, expected: Any) -> bool:
    """ComfyUI's validate_node_input: equal, a wildcard, or overlapping comma-separated types."""
    if isinstance(expected, list) or expected == "COMBO":
        return received in ("COMBO", "*") or isinstance(received, list)
    if received == expected or "*" in (received, expected):
        return True
    if isinstance(received, str) and isinstance(expected, str):
        return not set(received.split(",")).isdisjoint(expected.split(","))
    return False


# --- pictures and clips -------------------------------------------------------------------------


def _palette(seed: int, text: str) -> tuple[random.Random, tuple, tuple]:
    rng = random.Random(f"{seed}\x00{text}")
    first = tuple(rng.randrange(256) for _ in range(3))
    second = tuple(rng.randrange(256) for _ in range(3))
    return rng, first, second


def render_picture(width: int, height: int, *, seed: int, text: str) -> Image.Image:
    """A cheap picture that changes visibly with the seed and the prompt: a two-colour gradient
    and a disc, both drawn from a generator seeded with them."""
    rng, first, second = _palette(seed, text)
    ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    pixels = np.array(first, np.float32) * (1 - ramp) + np.array(second, np.float32) * ramp
    pixels = np.broadcast_to(pixels, (height, width, 3)).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    radius = max(2, min(width, height) // rng.randint(3, 6))
    cx, cy = rng.randrange(width), rng.randrange(height)
    colour = tuple(255 - c for c in first)
    ImageDraw.Draw(image).ellipse((cx - radius, cy - radius, cx + radius, cy + radius), colour)
    return image


def render_frames(
    width: int, height: int, count: int, *, seed: int, text: str, start: Image.Image | None
) -> list[np.ndarray]:
    """``count`` RGB frames: the start picture (resized) or a seeded picture first, then the same
    with a bar sweeping across, so the clip moves."""
    base = (start.convert("RGB").resize((width, height)) if start else None) or render_picture(
        width, height, seed=seed, text=text
    )
    first = np.asarray(base, np.uint8)
    _, _, bar = _palette(seed + 1, text)
    frames = [first]
    bar_w = max(2, width // 16)
    for i in range(1, count):
        frame = first.copy()
        x = (i * (width - bar_w)) // max(count - 1, 1)
        frame[:, x : x + bar_w] = bar
        frames.append(frame)
    return frames


def encode_mp4(frames: list[np.ndarray], fps: float) -> bytes:
    """A real H.264 MP4 (yuv420p, so even sizes) at ``fps`` (fractional rates too)."""
    height, width = frames[0].shape[:2]
    even_w, even_h = width - width % 2, height - height % 2
    rate = Fraction(fps).limit_denominator(1001)
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = even_w, even_h, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(rgb[:even_h, :even_w]), format="rgb24"
            )
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def encode_animation(frames: list[np.ndarray], fps: float, fmt: str) -> bytes:
    out = io.BytesIO()
    images = [Image.fromarray(f) for f in frames]
    images[0].save(
        out,
        format=fmt.upper(),
        save_all=True,
        append_images=images[1:],
        duration=round(1000 / fps),
        loop=0,
    )
    return out.getvalue()


def _png(image: Image.Image, graph: dict | None = None) -> bytes:
    info = PngInfo()
    if graph is not None:
        info.add_text("prompt", json.dumps(graph))
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info, compress_level=1)
    return out.getvalue()


def model_sha256(filename: str) -> str:
    """The sha256 the stand-in reports for a model file (``/view_metadata``), 64 hex digits."""
    return hashlib.sha256(f"model:{filename}".encode()).hexdigest()


# --- the server ---------------------------------------------------------------------------------


class _Interrupted(Exception):
    pass


class _Failed(Exception):
    def __init__(self, exception_type: str, message: str) -> None:
        super().__init__(message)
        self.exception_type = exception_type
        self.message = message


class _Died(Exception):
    pass


class ComfyStandin:
    """Start with ``start()`` (or ``with``); ``url`` is the server's base URL.

    ``object_info`` defaults to ``tests/generation/comfyui_object_info.json`` when it exists, else
    ``builtin_object_info()``. ``model_files`` ({ComfyUI folder: [file names]}, folders
    ``checkpoints``, ``diffusion_models``, ``text_encoders``, ``vae``, ``loras``) replaces the
    choices of the loaders' file inputs; ``/view_metadata`` knows exactly those files and reports
    ``model_sha256(name)`` for each. ``step_s`` is how long one sampler step (or one plain node)
    takes. With ``auth`` set, every request must carry ``Authorization: <auth>`` (401 otherwise).
    """

    def __init__(
        self,
        *,
        object_info: dict | None = None,
        step_s: float = 0.01,
        auth: str | None = None,
        model_files: dict[str, list[str]] | None = None,
    ) -> None:
        if object_info is None:
            if OBJECT_INFO_FILE.exists():
                object_info = json.loads(OBJECT_INFO_FILE.read_text())
            else:
                object_info = builtin_object_info(model_files)
        self.object_info: dict[str, dict] = copy.deepcopy(object_info)
        self.model_files: dict[str, list[str]] = self._apply_model_files(model_files)
        self.step_s = step_s
        self.auth = auth
        self.pretend_queue = 0
        self.cache_outputs = True
        self.previews = False  # send a binary preview frame with each sampler step
        self.vram_total = 25_386_352_640
        self.vram_free = 23_917_150_208

        # What it saw (read from the test thread; appended under the lock).
        self.prompts: list[dict] = []
        self.uploads: dict[str, bytes] = {}
        self.interrupts: list[dict] = []
        self.deletes: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.result_at: dict[str, float] = {}
        self.executed: list[str] = []

        self._lock = threading.Lock()
        # ComfyUI's input/output/temp folders: (type, subfolder, name) -> bytes. The pictures the
        # object_info's LoadImage lists are in the input folder from the start.
        self._files: dict[tuple[str, str, str], bytes] = {}
        load = self.object_info.get("LoadImage")
        for name in combo_options(_input_config(load, "image")[0] or []) if load else []:
            picture = render_picture(64, 64, seed=0, text=name)
            subfolder, _, filename = name.rpartition("/")
            self._files[("input", subfolder, filename)] = _png(picture)
        self._faults: collections.deque[tuple[str, int]] = collections.deque()
        self._held = False
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._worker: asyncio.Task | None = None
        self._dead = False
        self._reset_state()

    # --- lifecycle (called from the test thread) -------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/ws"

    def start(self) -> ComfyStandin:
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._call(self._serve())
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> ComfyStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def revive(self) -> None:
        """After a "die": listen again on the same port, as a restarted ComfyUI (empty queue,
        history and cache; uploaded and output files are still on its disk)."""
        if self._dead:
            self._call(self._serve())

    def kill(self) -> None:
        """Crash now, as a "die" fault does mid-prompt: sockets cut, port closed, state lost."""
        self._call(self._shutdown())

    def fail_next(self, kind: str, *, at_step: int = 1) -> None:
        """Make the next prompt that starts executing fail with ``kind`` (see ``FAULTS``) at
        sampler step ``at_step`` (in a graph without a sampler: when its first node runs).
        Several calls queue up, one per prompt. A prompt whose sampler is cached (the same prompt
        again) uses up its fault without failing, as nothing runs."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULTS}")
        with self._lock:
            self._faults.append((kind, at_step))

    def hold(self) -> None:
        """Leave queued prompts pending (a slow queue) until ``release()``."""
        self._held = True

    def release(self) -> None:
        self._held = False
        self._loop.call_soon_threadsafe(self._wake.set)

    def file(self, filename: str, subfolder: str = "", type_: str = "output") -> bytes | None:
        """A file as ``/view`` would serve it (None if absent)."""
        with self._lock:
            return self._files.get((type_, subfolder, filename))

    def history(self) -> dict[str, dict]:
        with self._lock:
            return copy.deepcopy(self._history)

    # --- plumbing --------------------------------------------------------------------------------

    def _input_file(self, value: Any) -> bytes | None:
        """The input-folder file a LoadImage value names ("sub/name.png" or "name.png")."""
        subfolder, _, name = str(value).rpartition("/")
        with self._lock:
            return self._files.get(("input", subfolder, name))

    def _call(self, coro) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def _apply_model_files(self, model_files: dict[str, list[str]] | None) -> dict[str, list[str]]:
        """Put ``model_files`` into the loaders' combos, or read the known files from them."""
        known: dict[str, list[str]] = {}
        for info in self.object_info.values():
            for category in ("required", "optional"):
                for name, config in info.get("input", {}).get(category, {}).items():
                    folder = MODEL_INPUTS.get(name)
                    if folder is None or combo_options(config) is None:
                        continue
                    if model_files is not None:
                        _set_combo(config, model_files.get(folder, []))
                    for option in combo_options(config) or []:
                        if option not in known.setdefault(folder, []):
                            known[folder].append(option)
        if model_files is not None:
            return {k: list(v) for k, v in model_files.items()}
        return known

    def _reset_state(self) -> None:
        """What a ComfyUI process holds in memory (gone when it dies)."""
        self._number = 0
        self._queue: list[list] = []  # [number, prompt_id, graph, extra_data, outputs]
        self._running: list | None = None
        self._history: dict[str, dict] = {}
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._transports: dict[int, asyncio.BaseTransport] = {}
        self._client_id: str | None = None
        self._last_node_id: str | None = None
        self._interrupt = False
        self._fault_now: tuple[str, int] | None = None
        self._cache: dict[str, tuple[str, dict | None]] = {}
        self._counters: dict[tuple[str, str], int] = {}
        self._wake = asyncio.Event()

    async def _serve(self) -> None:
        self._dead = False
        self._reset_state()
        app = web.Application(middlewares=[self._middleware], client_max_size=100 * 1024**2)
        routes = [
            web.get("/ws", self._ws),
            web.post("/prompt", self._post_prompt),
            web.get("/prompt", self._get_prompt),
            web.get("/queue", self._get_queue),
            web.post("/queue", self._post_queue),
            web.post("/interrupt", self._post_interrupt),
            web.get("/history", self._get_history),
            web.get("/history/{prompt_id}", self._get_history_item),
            web.post("/history", self._post_history),
            web.get("/view", self._view),
            web.post("/upload/image", self._upload),
            web.get("/object_info", self._object_info),
            web.get("/object_info/{node_class}", self._object_info_node),
            web.get("/system_stats", self._system_stats),
            web.get("/view_metadata/{folder_name}", self._view_metadata),
        ]
        # ComfyUI answers every route with and without the /api prefix.
        app.add_routes(routes)
        app.add_routes([web.route(r.method, "/api" + r.path, r.handler) for r in routes])
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.2
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _shutdown(self) -> None:
        self._dead = True
        if self._worker is not None and self._worker is not asyncio.current_task():
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass
        self._worker = None
        self._drop_sockets()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _drop_sockets(self) -> None:
        """Cut every socket as a network failure would: no close frame."""
        for ws in list(self._sockets.values()):
            transport = self._transports.pop(id(ws), None)
            if transport is not None:
                transport.abort()
        self._sockets.clear()

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        with self._lock:
            self.requests.append((request.method, request.path))
        if self.auth is not None and request.headers.get("Authorization") != self.auth:
            return web.Response(status=401, text="401: Unauthorized")
        return await handler(request)

    # --- socket ----------------------------------------------------------------------------------

    def _queue_info(self) -> dict:
        remaining = len(self._queue) + (self._running is not None) + self.pretend_queue
        return {"exec_info": {"queue_remaining": remaining}}

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        old = self._sockets.get(sid)
        self._sockets[sid] = ws
        if request.transport is not None:
            self._transports[id(ws)] = request.transport
        if old is not None:
            self._transports.pop(id(old), None)
            await old.close()
        try:
            await self._send_one(ws, "status", {"status": self._queue_info(), "sid": sid})
            # On reconnect, the client whose prompt is running is told the current node.
            if self._client_id == sid and self._last_node_id is not None:
                await self._send_one(ws, "executing", {"node": self._last_node_id})
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            if self._sockets.get(sid) is ws:
                del self._sockets[sid]
            self._transports.pop(id(ws), None)
        return ws

    async def _send_one(self, ws: web.WebSocketResponse, event: str, data: dict) -> None:
        try:
            await ws.send_str(json.dumps({"type": event, "data": data}))
        except (ConnectionError, RuntimeError):  # the client went away
            pass

    async def _send(self, event: str, data: dict, sid: str | None) -> None:
        """ComfyUI's send: to one client id, or to every socket when ``sid`` is None."""
        if sid is None:
            targets = list(self._sockets.values())
        else:
            targets = [self._sockets[sid]] if sid in self._sockets else []
        for ws in targets:
            await self._send_one(ws, event, data)

    async def _send_bytes(self, payload: bytes, sid: str | None) -> None:
        ws = self._sockets.get(sid) if sid else None
        if ws is not None:
            try:
                await ws.send_bytes(payload)
            except (ConnectionError, RuntimeError):
                pass

    async def _queue_updated(self) -> None:
        await self._send("status", {"status": self._queue_info()}, None)

    # --- HTTP: queue -----------------------------------------------------------------------------

    async def _post_prompt(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict) or "prompt" not in body:
            error = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        if "number" in body:
            number = float(body["number"])
        else:
            number = self._number
            if body.get("front"):
                number = -number
            self._number += 1
        graph = body["prompt"]
        prompt_id = str(body.get("prompt_id") or uuid.uuid4())
        ok, error, outputs, node_errors = self._validate(graph)
        if not ok:
            return web.json_response({"error": error, "node_errors": node_errors}, status=400)
        extra = dict(body.get("extra_data") or {})
        if "client_id" in body:
            extra["client_id"] = body["client_id"]
        extra["create_time"] = int(time.time() * 1000)
        self._queue.append([number, prompt_id, graph, extra, outputs])
        self._queue.sort(key=lambda item: item[0])
        with self._lock:
            self.prompts.append(
                {"prompt_id": prompt_id, "client_id": body.get("client_id"), "graph": graph}
            )
        await self._queue_updated()
        self._wake.set()
        return web.json_response(
            {"prompt_id": prompt_id, "number": number, "node_errors": node_errors}
        )

    async def _get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response(self._queue_info())

    async def _get_queue(self, request: web.Request) -> web.Response:
        pending = [list(item) for item in self._queue]
        for i in range(self.pretend_queue):
            pending.append([self._number + 1000 + i, f"busy-{i:04d}", {}, {}, []])
        running = [list(self._running)] if self._running is not None else []
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def _post_queue(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            self._queue.clear()
            await self._queue_updated()
        for prompt_id in body.get("delete", []):
            with self._lock:
                self.deletes.append(prompt_id)
            for item in self._queue:
                if item[1] == prompt_id:
                    self._queue.remove(item)
                    await self._queue_updated()
                    break
        return web.Response(status=200)

    async def _post_interrupt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = {}
        body = body if isinstance(body, dict) else {}
        with self._lock:
            self.interrupts.append(body)
        prompt_id = body.get("prompt_id")
        if self._running is not None and (not prompt_id or self._running[1] == prompt_id):
            self._interrupt = True
        return web.Response(status=200)

    async def _get_history(self, request: web.Request) -> web.Response:
        items = list(self._history.items())
        if "max_items" in request.query:
            try:
                max_items = int(request.query["max_items"])
                items = items[max(0, len(items) - max_items) :] if max_items > 0 else []
            except ValueError:
                return web.Response(status=400, text="max_items must be an integer")
        return web.json_response(dict(items))

    async def _get_history_item(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        entry = self._history.get(prompt_id)
        return web.json_response({prompt_id: entry} if entry is not None else {})

    async def _post_history(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            self._history.clear()
        for prompt_id in body.get("delete", []):
            self._history.pop(prompt_id, None)
        return web.Response(status=200)

    # --- HTTP: files, nodes, system --------------------------------------------------------------

    async def _view(self, request: web.Request) -> web.Response:
        filename = request.query.get("filename")
        if not filename:
            return web.Response(status=404)
        if filename[0] == "/" or ".." in filename:
            return web.Response(status=400)
        type_ = request.query.get("type", "output")
        if type_ not in ("output", "input", "temp"):
            return web.Response(status=400)
        subfolder = request.query.get("subfolder", "")
        if ".." in subfolder or subfolder.startswith("/"):
            return web.Response(status=403)
        with self._lock:
            data = self._files.get((type_, subfolder, filename))
        if data is None:
            return web.Response(status=404)
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return web.Response(
            body=data,
            content_type=content_type,
            headers={"Content-Disposition": f'filename="{filename}"'},
        )

    async def _upload(self, request: web.Request) -> web.Response:
        post = await request.post()
        image = post.get("image")
        if not isinstance(image, web.FileField) or not image.filename:
            return web.Response(status=400)
        type_ = str(post.get("type") or "input")
        if type_ not in ("input", "temp", "output"):
            return web.Response(status=400)
        subfolder = str(post.get("subfolder", ""))
        if ".." in subfolder or subfolder.startswith("/"):
            return web.Response(status=400)
        data = image.file.read()
        name = image.filename
        overwrite = str(post.get("overwrite", "")) in ("true", "1")
        with self._lock:
            if not overwrite:  # ComfyUI renames "a.png" to "a (1).png" unless it is the same file
                stem, dot, ext = name.rpartition(".")
                stem, dot = (stem, dot) if dot else (ext, "")
                ext = ext if dot else ""
                i = 1
                while (type_, subfolder, name) in self._files:
                    if self._files[(type_, subfolder, name)] == data:
                        break
                    name = f"{stem} ({i}){dot}{ext}"
                    i += 1
            self._files[(type_, subfolder, name)] = data
            if type_ == "input":
                self.uploads[f"{subfolder}/{name}" if subfolder else name] = data
        return web.json_response({"name": name, "subfolder": subfolder, "type": type_})

    def _live_object_info(self) -> dict[str, dict]:
        """object_info as served now: LoadImage lists the files in the input folder."""
        info = copy.deepcopy(self.object_info)
        load = info.get("LoadImage")
        if load is not None:
            config, _ = _input_config(load, "image")
            if config is not None and combo_options(config) is not None:
                with self._lock:
                    names = {
                        f"{sub}/{name}" if sub else name
                        for (kind, sub, name) in self._files
                        if kind == "input"
                    }
                _set_combo(config, sorted(names))
        return info

    async def _object_info(self, request: web.Request) -> web.Response:
        return web.json_response(self._live_object_info())

    async def _object_info_node(self, request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        info = self._live_object_info()
        return web.json_response({name: info[name]} if name in info else {})

    async def _system_stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "system": {
                    "os": "posix",
                    "ram_total": 67_268_751_360,
                    "ram_free": 51_390_619_648,
                    "comfyui_version": "0.3.75",
                    "required_frontend_version": "1.30.6",
                    "python_version": "3.12.3 (main, Nov  6 2025, 13:44:16) [GCC 13.3.0]",
                    "pytorch_version": "2.9.1+cu128",
                    "embedded_python": False,
                    "argv": ["main.py", "--listen", "0.0.0.0", "--port", str(self._port)],
                },
                "devices": [
                    {
                        "name": "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync",
                        "type": "cuda",
                        "index": 0,
                        "vram_total": self.vram_total,
                        "vram_free": self.vram_free,
                        "torch_vram_total": 1_073_741_824,
                        "torch_vram_free": 402_653_184,
                    }
                ],
            }
        )

    async def _view_metadata(self, request: web.Request) -> web.Response:
        folder = request.match_info["folder_name"]
        folder = FOLDER_ALIASES.get(folder, folder)
        filename = request.query.get("filename")
        if not filename or not filename.endswith(".safetensors"):
            return web.Response(status=404)
        if filename not in self.model_files.get(folder, []):
            return web.Response(status=404)
        return web.json_response(
            {
                "modelspec.sai_model_spec": "1.0.0",
                "modelspec.architecture": folder,
                "modelspec.title": filename.rsplit(".", 1)[0],
                "modelspec.hash_sha256": "0x" + model_sha256(filename),
                "format": "pt",
            }
        )

    # --- validation (execution.validate_prompt) --------------------------------------------------

    def _validate(self, graph: Any) -> tuple[bool, dict | None, list[str], dict]:
        if not isinstance(graph, dict):
            raise web.HTTPInternalServerError(text="prompt must be an object")
        info = self._live_object_info()
        outputs = []
        for node_id, node in graph.items():
            title = (node.get("_meta") or {}).get("title") if isinstance(node, dict) else None
            if not isinstance(node, dict) or "class_type" not in node:
                message = (
                    f"Node '{title or f'ID #{node_id}'}' has no class_type. The workflow may be "
                    "corrupted or a custom node is missing."
                )
                error = {
                    "type": "missing_node_type",
                    "message": message,
                    "details": f"Node ID '#{node_id}'",
                    "extra_info": {"node_id": node_id, "class_type": None, "node_title": title},
                }
                return False, error, [], {}
            class_type = node["class_type"]
            if class_type not in info:
                title = title or class_type
                error = {
                    "type": "missing_node_type",
                    "message": f"Node '{title}' not found. The custom node may not be installed.",
                    "details": f"Node ID '#{node_id}'",
                    "extra_info": {
                        "node_id": node_id,
                        "class_type": class_type,
                        "node_title": title,
                    },
                }
                return False, error, [], {}
            if info[class_type].get("output_node"):
                outputs.append(node_id)
        if not outputs:
            error = {
                "type": "prompt_no_outputs",
                "message": "Prompt has no outputs",
                "details": "",
                "extra_info": {},
            }
            return False, error, [], {}

        good: list[str] = []
        failures: list[tuple[str, list]] = []
        node_errors: dict[str, dict] = {}
        validated: dict[str, tuple[bool, list]] = {}
        for output in outputs:
            try:
                ok, reasons = self._validate_node(graph, info, output, validated)
            except Exception as exc:  # a link to a node that is not there, as in ComfyUI
                ok = False
                reasons = [
                    {
                        "type": "exception_during_validation",
                        "message": "Exception when validating node",
                        "details": str(exc),
                        "extra_info": {
                            "exception_type": type(exc).__qualname__,
                            "traceback": _traceback("validate_prompt"),
                        },
                    }
                ]
                validated[output] = (False, reasons)
            if ok:
                good.append(output)
                continue
            failures.append((output, reasons))
            for node_id, (node_ok, node_reasons) in validated.items():
                if node_ok or not node_reasons:
                    continue
                entry = node_errors.setdefault(
                    node_id,
                    {
                        "errors": node_reasons,
                        "dependent_outputs": [],
                        "class_type": graph[node_id]["class_type"],
                    },
                )
                entry["dependent_outputs"].append(output)
        if not good:
            details = "\n".join(
                f"{r['message']}: {r['details']}" for _, reasons in failures for r in reasons
            )
            error = {
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": details,
                "extra_info": {},
            }
            return False, error, [], node_errors
        return True, None, good, node_errors

    def _validate_node(
        self, graph: dict, info: dict, node_id: str, validated: dict
    ) -> tuple[bool, list]:
        if node_id in validated:
            return validated[node_id]
        node = graph[node_id]
        inputs = node.setdefault("inputs", {})
        class_info = info[node["class_type"]]
        errors: list[dict] = []
        valid = True
        # LoadImage checks its file itself (VALIDATE_INPUTS), instead of the combo check.
        custom = {"image"} if node["class_type"] in ("LoadImage", "LoadImageMask") else set()
        order = class_info.get("input_order") or {
            k: list(v) for k, v in class_info.get("input", {}).items()
        }
        names = [n for cat in ("required", "optional") for n in order.get(cat, [])]
        for name in names:
            config, category = _input_config(class_info, name)
            if config is None:
                continue
            input_type = config[0]
            extra = config[1] if len(config) > 1 and isinstance(config[1], dict) else {}
            if name not in inputs:
                if category == "required":
                    errors.append(
                        {
                            "type": "required_input_missing",
                            "message": "Required input is missing",
                            "details": name,
                            "extra_info": {"input_name": name},
                        }
                    )
                continue
            value = inputs[name]
            input_config = [input_type, extra]
            if isinstance(value, list):
                if len(value) != 2:
                    errors.append(
                        {
                            "type": "bad_linked_input",
                            "message": "Bad linked input, must be a length-2 list of "
                            "[node_id, slot_index]",
                            "details": name,
                            "extra_info": {
                                "input_name": name,
                                "input_config": input_config,
                                "received_value": value,
                            },
                        }
                    )
                    continue
                source_id = value[0]
                source = graph[source_id]  # KeyError for a missing node, as in ComfyUI
                received = info[source["class_type"]]["output"][value[1]]
                if not _linked_type_ok(received, input_type):
                    errors.append(
                        {
                            "type": "return_type_mismatch",
                            "message": "Return type mismatch between linked nodes",
                            "details": f"{name}, received_type({received}) mismatch "
                            f"input_type({input_type})",
                            "extra_info": {
                                "input_name": name,
                                "input_config": input_config,
                                "received_type": received,
                                "linked_node": value,
                            },
                        }
                    )
                    continue
                try:
                    source_ok, _ = self._validate_node(graph, info, source_id, validated)
                    if not source_ok:
                        valid = False
                except Exception as exc:
                    valid = False
                    validated[source_id] = (
                        False,
                        [
                            {
                                "type": "exception_during_inner_validation",
                                "message": "Exception when validating inner node",
                                "details": str(exc),
                                "extra_info": {
                                    "input_name": name,
                                    "input_config": input_config,
                                    "exception_message": str(exc),
                                    "exception_type": type(exc).__qualname__,
                                    "traceback": _traceback("validate_inputs"),
                                    "linked_node": value,
                                },
                            }
                        ],
                    )
                continue
            if isinstance(value, dict) and "__value__" in value:
                value = inputs[name] = value["__value__"]
            try:
                if input_type == "INT":
                    value = inputs[name] = int(value)
                elif input_type == "FLOAT":
                    value = inputs[name] = float(value)
                elif input_type == "STRING":
                    value = inputs[name] = str(value)
                elif input_type == "BOOLEAN":
                    value = inputs[name] = bool(value)
            except (TypeError, ValueError) as exc:
                errors.append(
                    {
                        "type": "invalid_input_type",
                        "message": f"Failed to convert an input value to a {input_type} value",
                        "details": f"{name}, {value}, {exc}",
                        "extra_info": {
                            "input_name": name,
                            "input_config": input_config,
                            "received_value": value,
                            "exception_message": str(exc),
                        },
                    }
                )
                continue
            if name in custom:
                if self._input_file(value) is None:
                    errors.append(
                        {
                            "type": "custom_validation_failed",
                            "message": "Custom validation failed for node",
                            "details": f"{name} - Invalid image file: {value}",
                            "extra_info": {"input_name": name},
                        }
                    )
                continue
            limit_error = _limit_error(name, value, extra, input_config)
            if limit_error is not None:
                errors.append(limit_error)
                continue
            options = combo_options(config)
            if options is not None and value not in options:
                too_long = len(options) > 20
                listed = f"(list of length {len(options)})" if too_long else str(options)
                errors.append(
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": f"{name}: '{value}' not in {listed}",
                        "extra_info": {
                            "input_name": name,
                            "input_config": None if too_long else input_config,
                            "received_value": value,
                        },
                    }
                )
        result = (not errors and valid, errors)
        validated[node_id] = result
        return result

    # --- execution (main.prompt_worker + execution.PromptExecutor) -------------------------------

    async def _work(self) -> None:
        while True:
            while self._held or not self._queue:
                self._wake.clear()
                await self._wake.wait()
            item = self._queue.pop(0)
            self._running = item
            await self._queue_updated()
            with self._lock:
                fault = self._faults.popleft() if self._faults else None
            try:
                await self._execute(item, fault)
            except _Died:
                await self._shutdown()
                return

    def _signature(self, graph: dict, node_id: str, memo: dict) -> str:
        """What ComfyUI's cache keys a node on: its class, literal inputs and upstream."""
        if node_id in memo:
            return memo[node_id]
        node = graph[node_id]
        parts: dict[str, Any] = {}
        for name, value in sorted(node.get("inputs", {}).items()):
            if isinstance(value, list) and len(value) == 2 and value[0] in graph:
                parts[name] = ["link", self._signature(graph, value[0], memo), value[1]]
            else:
                parts[name] = value
        if node["class_type"] in ("LoadImage", "LoadImageMask"):  # IS_CHANGED: the file's hash
            data = self._input_file(node.get("inputs", {}).get("image")) or b""
            parts["_file"] = hashlib.sha256(data).hexdigest()
        memo[node_id] = json.dumps([node["class_type"], parts], sort_keys=True, default=str)
        return memo[node_id]

    def _order(self, graph: dict, outputs: list[str], cached: set[str]) -> list[str]:
        """Nodes to run, inputs first; cached nodes are skipped unless they are outputs."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(node_id: str) -> None:
            if node_id in seen:
                return
            seen.add(node_id)
            if node_id in cached and node_id not in outputs:
                return
            if node_id not in cached:
                for value in graph[node_id].get("inputs", {}).values():
                    if isinstance(value, list) and len(value) == 2 and value[0] in graph:
                        visit(value[0])
            order.append(node_id)

        for output in outputs:
            visit(output)
        return order

    async def _execute(self, item: list, fault: tuple[str, int] | None) -> None:
        number, prompt_id, graph, extra, outputs = item
        self._interrupt = False
        self._fault_now = fault
        self._client_id = client_id = extra.get("client_id")
        self._last_node_id = None
        messages: list[list] = []

        async def add_message(event: str, data: dict, broadcast: bool) -> None:
            data = {**data, "timestamp": int(time.time() * 1000)}
            messages.append([event, data])
            if client_id is not None or broadcast:
                await self._send(event, data, client_id)

        await add_message("execution_start", {"prompt_id": prompt_id}, broadcast=False)
        memo: dict[str, str] = {}
        signatures = {node_id: self._signature(graph, node_id, memo) for node_id in graph}
        self._cache = {k: v for k, v in self._cache.items() if k in graph}
        if not self.cache_outputs:
            self._cache = {}
        cached = {k for k, (sig, _) in self._cache.items() if signatures[k] == sig}
        cached_now = [node_id for node_id in graph if node_id in cached]
        await add_message(
            "execution_cached", {"nodes": cached_now, "prompt_id": prompt_id}, broadcast=False
        )
        ui_outputs: dict[str, dict] = {}
        meta: dict[str, dict] = {}
        executed: list[str] = []

        async def send_executed(node_id: str, ui: dict | None) -> None:
            # ``executed`` goes to the submitting client only, as ComfyUI sends it.
            if client_id is not None:
                data = {"node": node_id, "display_node": node_id, "output": ui}
                await self._send("executed", {**data, "prompt_id": prompt_id}, client_id)

        states: dict[str, dict] = {}
        success = False
        try:
            for node_id in self._order(graph, outputs, cached):
                node = graph[node_id]
                if node_id in cached:  # an output node with nothing new to do
                    ui = self._cache[node_id][1]
                    if ui is not None:
                        ui_outputs[node_id] = ui
                        meta[node_id] = _meta(node_id)
                    await send_executed(node_id, ui)
                    continue
                await self._run_node(graph, node_id, prompt_id, states)
                ui = None
                if self.object_info[node["class_type"]].get("output_node"):
                    ui = await asyncio.get_running_loop().run_in_executor(
                        None, self._render, graph, node_id
                    )
                    ui_outputs[node_id] = ui
                    meta[node_id] = _meta(node_id)
                    await send_executed(node_id, ui)
                self._cache[node_id] = (signatures[node_id], ui)
                states[node_id]["state"] = "finished"
                states[node_id]["value"] = states[node_id]["max"]
                await self._progress_state(prompt_id, states)
                executed.append(node_id)
            success = True
            await add_message("execution_success", {"prompt_id": prompt_id}, broadcast=False)
            with self._lock:
                self.result_at[prompt_id] = time.monotonic()
                self.executed.append(prompt_id)
        except _Interrupted:
            node_id = self._last_node_id or ""
            await add_message(
                "execution_interrupted",
                {
                    "prompt_id": prompt_id,
                    "node_id": node_id,
                    "node_type": graph.get(node_id, {}).get("class_type"),
                    "executed": list(executed),
                },
                broadcast=True,
            )
        except _Failed as exc:
            node_id = self._last_node_id or ""
            node = graph.get(node_id, {})
            await add_message(
                "execution_error",
                {
                    "prompt_id": prompt_id,
                    "node_id": node_id,
                    "node_type": node.get("class_type"),
                    "executed": list(executed),
                    "exception_message": exc.message,
                    "exception_type": exc.exception_type,
                    "traceback": _traceback("sample"),
                    "current_inputs": _current_inputs(node),
                    "current_outputs": cached_now,
                },
                broadcast=False,
            )
        self._last_node_id = None
        self._running = None
        with self._lock:
            self._history[prompt_id] = {
                "prompt": [number, prompt_id, graph, extra, outputs],
                "outputs": ui_outputs,
                "status": {
                    "status_str": "success" if success else "error",
                    "completed": success,
                    "messages": messages,
                },
                "meta": meta,
            }
        await self._queue_updated()
        if client_id is not None:
            await self._send("executing", {"node": None, "prompt_id": prompt_id}, client_id)

    async def _progress_state(self, prompt_id: str, states: dict[str, dict]) -> None:
        nodes = {
            node_id: {
                **state,
                "node_id": node_id,
                "prompt_id": prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
            }
            for node_id, state in states.items()
        }
        await self._send("progress_state", {"prompt_id": prompt_id, "nodes": nodes}, None)

    async def _run_node(
        self,
        graph: dict,
        node_id: str,
        prompt_id: str,
        states: dict[str, dict],
    ) -> None:
        client_id = self._client_id
        if self._interrupt:
            self._last_node_id = node_id
            raise _Interrupted
        states[node_id] = {"value": 0.0, "max": 1.0, "state": "running"}
        await self._progress_state(prompt_id, states)
        self._last_node_id = node_id
        if client_id is not None:
            await self._send(
                "executing",
                {"node": node_id, "display_node": node_id, "prompt_id": prompt_id},
                client_id,
            )
        steps = sampler_steps(graph, node_id)
        if self._fault_now is not None and not any(sampler_steps(graph, n) for n in graph):
            await self._fault()  # no sampler: the fault hits the first node that runs
        if not steps:
            await asyncio.sleep(self.step_s)
            if self._interrupt:
                raise _Interrupted
            return
        for value in range(1, steps + 1):
            await asyncio.sleep(self.step_s)
            if self._interrupt:  # the progress hook is where ComfyUI notices an interrupt
                raise _Interrupted
            if self._fault_now is not None and value == min(self._fault_now[1], steps):
                await self._fault()
            progress = {"value": value, "max": steps, "prompt_id": prompt_id, "node": node_id}
            states[node_id].update(value=float(value), max=float(steps))
            await self._progress_state(prompt_id, states)
            await self._send("progress", progress, client_id)
            if self.previews and client_id is not None:
                await self._send_bytes(_preview_frame(value), client_id)

    async def _fault(self) -> None:
        """The fault claimed by the running prompt strikes now (once)."""
        kind = self._fault_now[0] if self._fault_now else None
        self._fault_now = None
        if kind == "execution_error":
            raise _Failed("RuntimeError", NODE_ERROR_MESSAGE)
        if kind == "oom":
            raise _Failed("torch.OutOfMemoryError", OOM_MESSAGE)
        if kind == "interrupted":
            raise _Interrupted
        if kind == "drop_socket":
            self._drop_sockets()
            return
        if kind == "die":
            raise _Died

    # --- rendering outputs -----------------------------------------------------------------------

    def _upstream(self, graph: dict, node_id: str) -> list[str]:
        """Node ids feeding ``node_id``, nearest first (breadth first), itself included."""
        order, queue, seen = [], collections.deque([node_id]), {node_id}
        while queue:
            current = queue.popleft()
            order.append(current)
            for value in graph[current].get("inputs", {}).values():
                linked = isinstance(value, list) and len(value) == 2 and value[0] in graph
                if linked and value[0] not in seen:
                    seen.add(value[0])
                    queue.append(value[0])
        return order

    def _scene(self, graph: dict, output_id: str) -> dict:
        """The values a render needs, read from the graph as the model would use them."""
        upstream = self._upstream(graph, output_id)

        def literal(node_id: str, name: str) -> Any:
            value = graph[node_id].get("inputs", {}).get(name)
            return None if isinstance(value, list) else value

        latent = next(
            (
                n
                for n in upstream
                if isinstance(literal(n, "width"), int) and isinstance(literal(n, "height"), int)
            ),
            None,
        )
        width = literal(latent, "width") if latent else 512
        height = literal(latent, "height") if latent else 512
        seed = next(
            (
                literal(n, key)
                for n in upstream
                for key in ("seed", "noise_seed")
                if isinstance(literal(n, key), int)
            ),
            0,
        )
        texts = [literal(n, "text") for n in upstream if isinstance(literal(n, "text"), str)]
        start = None
        if latent is not None:
            for n in self._upstream(graph, latent):
                if graph[n]["class_type"] in ("LoadImage", "LoadImageMask"):
                    data = self._input_file(literal(n, "image"))
                    if data is not None:
                        start = Image.open(io.BytesIO(data))
                        start.load()
                    break
        fps = next(
            (
                float(literal(n, key))
                for n in upstream
                for key in ("fps", "frame_rate")
                if isinstance(literal(n, key), (int, float))
            ),
            24.0,
        )
        return {
            "width": int(width),
            "height": int(height),
            "batch": int(literal(latent, "batch_size") or 1) if latent else 1,
            "length": int(literal(latent, "length") or 1) if latent else 1,
            "seed": int(seed),
            "text": " | ".join(texts),
            "start": start,
            "fps": fps,
        }

    def _save(self, prefix: str, extension: str, data: bytes, *, trailing: str = "_") -> dict:
        """Store a file as ComfyUI names it: ``<prefix>_<counter:05><trailing>.<ext>``."""
        subfolder, _, filename = prefix.rpartition("/")
        with self._lock:
            counter = self._counters.get((subfolder, filename), 0) + 1
            self._counters[(subfolder, filename)] = counter
            name = f"{filename}_{counter:05}{trailing}.{extension}"
            self._files[("output", subfolder, name)] = data
        return {"filename": name, "subfolder": subfolder, "type": "output"}

    def _render(self, graph: dict, node_id: str) -> dict:
        node = graph[node_id]
        class_type = node["class_type"]
        inputs = node.get("inputs", {})
        scene = self._scene(graph, node_id)
        w, h = scene["width"], scene["height"]
        if class_type == "SaveImage":
            prefix = str(inputs.get("filename_prefix") or "ComfyUI")
            images = []
            for i in range(scene["batch"]):
                picture = render_picture(w, h, seed=scene["seed"] + i, text=scene["text"])
                images.append(self._save(prefix, "png", _png(picture, graph)))
            return {"images": images}
        frames = render_frames(
            w, h, scene["length"], seed=scene["seed"], text=scene["text"], start=scene["start"]
        )
        fps = scene["fps"]
        if class_type == "SaveVideo":
            prefix = str(inputs.get("filename_prefix") or "video/ComfyUI")
            saved = self._save(prefix, "mp4", encode_mp4(frames, fps))
            return {"images": [saved], "animated": [True]}
        if class_type == "SaveAnimatedWEBP":
            prefix = str(inputs.get("filename_prefix") or "ComfyUI")
            saved = self._save(prefix, "webp", encode_animation(frames, fps, "webp"))
            return {"images": [saved], "animated": [True]}
        if class_type == "VHS_VideoCombine":
            prefix = str(inputs.get("filename_prefix") or "AnimateDiff")
            fmt = str(inputs.get("format") or "image/gif")
            kind, _, ext = fmt.partition("/")
            first = self._save(prefix, "png", _png(Image.fromarray(frames[0]), graph), trailing="")
            with self._lock:  # the clip shares the first frame's counter
                subfolder = first["subfolder"]
                name = first["filename"][: -len(".png")]
                if kind == "video":
                    ext, data = "mp4", encode_mp4(frames, fps)
                else:
                    data = encode_animation(frames, fps, ext)
                self._files[("output", subfolder, f"{name}.{ext}")] = data
            return {
                "gifs": [
                    {
                        "filename": f"{name}.{ext}",
                        "subfolder": subfolder,
                        "type": "output",
                        "format": fmt,
                        "frame_rate": inputs.get("frame_rate", fps),
                        "workflow": first["filename"],
                        "fullpath": f"/comfyui/output/{prefix.rpartition('/')[0]}/{name}.{ext}"
                        if subfolder
                        else f"/comfyui/output/{name}.{ext}",
                    }
                ]
            }
        # Any other output node: a picture, reported as SaveImage does.
        picture = render_picture(w, h, seed=scene["seed"], text=scene["text"])
        return {"images": [self._save("ComfyUI", "png", _png(picture, graph))]}


def sampler_steps(graph: dict, node_id: str) -> int | None:
    """How many steps a sampler node reports progress over, or None for any other node.

    A sampler takes a ``latent_image``; its steps are its own ``steps`` (KSampler; KSamplerAdvanced
    runs ``start_at_step`` to ``end_at_step``) or those of the scheduler feeding its ``sigmas``
    (SamplerCustom with SDTurboScheduler or BasicScheduler), as ComfyUI's progress bar counts them.
    """
    inputs = graph[node_id].get("inputs", {})
    if "latent_image" not in inputs:
        return None
    steps = inputs.get("steps")
    if not isinstance(steps, int) or isinstance(steps, bool):
        sigmas = inputs.get("sigmas")
        if isinstance(sigmas, list) and len(sigmas) == 2 and sigmas[0] in graph:
            steps = graph[sigmas[0]].get("inputs", {}).get("steps")
        if not isinstance(steps, int) or isinstance(steps, bool):
            return None
    start, end = inputs.get("start_at_step"), inputs.get("end_at_step")
    if isinstance(start, int) and isinstance(end, int):
        steps = min(end, steps) - start
    return max(steps, 1)


def _meta(node_id: str) -> dict:
    return {
        "node_id": node_id,
        "display_node": node_id,
        "parent_node": None,
        "real_node_id": node_id,
    }


def _current_inputs(node: dict) -> dict:
    formatted = {}
    for name, value in node.get("inputs", {}).items():
        if isinstance(value, list):
            formatted[name] = [f"<linked output {value[1]} of node {value[0]}>"]
        else:
            formatted[name] = [value]
    return formatted


def _traceback(function: str) -> list[str]:
    return [
        '  File "/comfyui/execution.py", line 496, in execute\n'
        "    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(\n",
        f'  File "/comfyui/comfy/samplers.py", line 1043, in {function}\n'
        "    output = executor.execute(noise, latent_image, sampler, sigmas)\n",
    ]


def _limit_error(name: str, value: Any, extra: dict, input_config: list) -> dict | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    if "min" in extra and value < extra["min"]:
        kind, message = (
            "value_smaller_than_min",
            f"Value {value} smaller than min of {extra['min']}",
        )
    elif "max" in extra and value > extra["max"]:
        kind = "value_bigger_than_max"
        message = f"Value {value} bigger than max of {extra['max']}"
    else:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return {
        "type": kind,
        "message": message,
        "details": name,
        "extra_info": {"input_name": name, "input_config": input_config, "received_value": value},
    }


def _preview_frame(step: int) -> bytes:
    """A binary socket frame as ComfyUI sends previews: event 1, image type 1 (JPEG), JPEG."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (step * 37 % 256, 90, 160)).save(out, "JPEG")
    return struct.pack(">I", 1) + struct.pack(">I", 1) + out.getvalue()
