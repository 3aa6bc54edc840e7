"""ComfyUI workflows as templates: loaded from a folder, checked, filled per job.

An operator exports a workflow from ComfyUI in API format (``<slug>.json``: node id → class type
and inputs, a link being ``[node id, output index]``) and writes a small mapping beside it
(``<slug>.vivid.json``) saying which node inputs take the prompt, seed, size, steps, frame count,
fps and start picture, which node's output is the result, and which loaders name the model files
(for provenance). The mapping format is described in ``platform/comfyui/README.md``.

Checks happen in two steps. Without a server: the files parse, every mapped node and input
exists in the workflow, the kinds, sizes and qualities make sense (``WorkflowError`` names the
file, node and input). Against a server's ``GET /object_info``: every node class is installed,
every mapped input is one the class takes, every model file named in a choice list is installed,
and inputs fed by an optional start picture are optional (``object_info_problems``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("image", "video")
QUALITIES = ("draft", "final")
FIELDS = (
    "prompt",
    "negative_prompt",
    "seed",
    "width",
    "height",
    "steps",
    "frames",
    "fps",
    "image",
    "batch_size",
)
REQUIRED_FIELDS = ("prompt", "seed", "width", "height")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
# The model folder each loader's file lives in (ComfyUI's folder_paths names), for
# ``GET /view_metadata/<folder>?filename=``; and the input naming the file.
LOADERS: dict[str, tuple[str, str]] = {
    "CheckpointLoaderSimple": ("checkpoints", "ckpt_name"),
    "CheckpointLoader": ("checkpoints", "ckpt_name"),
    "ImageOnlyCheckpointLoader": ("checkpoints", "ckpt_name"),
    "UNETLoader": ("diffusion_models", "unet_name"),
    "CLIPLoader": ("text_encoders", "clip_name"),
    "DualCLIPLoader": ("text_encoders", "clip_name1"),
    "VAELoader": ("vae", "vae_name"),
    "LoraLoader": ("loras", "lora_name"),
    "LoraLoaderModelOnly": ("loras", "lora_name"),
}
LORA_CLASSES = ("LoraLoader", "LoraLoaderModelOnly")
MAX_FILE_BYTES = 2 * 1024 * 1024  # a workflow file larger than this is refused


class WorkflowError(Exception):
    """A workflow or its mapping cannot be used; the message names file, node and input."""


@dataclass(frozen=True)
class Target:
    node: str
    input: str

    def __str__(self) -> str:
        return f"{self.node}.{self.input}"


@dataclass
class Workflow:
    """One workflow and its mapping, ready to be filled for a job."""

    slug: str
    name: str
    description: str
    graph: dict[str, Any]
    inputs: dict[str, Target]
    output: str
    kinds: tuple[str, ...]
    image_optional: bool
    checkpoints: tuple[str, ...]
    loras: tuple[str, ...]
    quality: dict[str, dict[str, Any]]
    sizes: dict[str, tuple[tuple[int, int], ...]]
    fps: int = 24
    max_duration_s: int = 0
    frames_multiple_of: int = 1
    frames_plus: int = 0
    cost: dict[str, dict[str, int]] = field(default_factory=dict)
    sha256: str = ""

    # --- what it names ------------------------------------------------------------------------

    def class_of(self, node: str) -> str:
        return str(self.graph[node].get("class_type", ""))

    def models(self) -> list[dict[str, str]]:
        """The model files the workflow loads: ``{"node", "class", "folder", "name"}``, the
        checkpoint loaders first, then LoRAs."""
        found = []
        lora_nodes = [n for n in self.graph if self.class_of(n) in LORA_CLASSES]
        for node in (*self.checkpoints, *self.loras, *lora_nodes):
            if any(m["node"] == node for m in found):
                continue
            cls = self.class_of(node)
            folder, key = LOADERS.get(cls, ("", ""))
            name = self.graph[node]["inputs"].get(key) if key else None
            if not isinstance(name, str):
                name = next(
                    (
                        v
                        for k, v in self.graph[node]["inputs"].items()
                        if k.endswith("_name") and isinstance(v, str)
                    ),
                    "",
                )
            found.append({"node": node, "class": cls, "folder": folder, "name": name})
        return found

    @property
    def model_name(self) -> str:
        first = self.models()
        return first[0]["name"] if first else self.slug

    @property
    def takes_image(self) -> bool:
        return "image" in self.inputs

    # --- per job ------------------------------------------------------------------------------

    def frames_for(self, duration_s: float) -> int:
        """The smallest frame count the model makes that covers ``duration_s`` at its fps."""
        needed = max(1, math.ceil(duration_s * self.fps - 1e-9))
        step = self.frames_multiple_of
        k = max(0, math.ceil((needed - self.frames_plus) / step))
        frames = step * k + self.frames_plus
        return frames if frames >= 1 else step

    def fill(
        self,
        *,
        kind: str,
        prompt: str,
        negative_prompt: str,
        seed: int,
        width: int,
        height: int,
        quality: str,
        duration_s: float | None,
        image_name: str | None,
    ) -> dict[str, Any]:
        """The graph for one picture or clip, every mapped input set; the template is untouched."""
        graph = copy.deepcopy(self.graph)
        values: dict[str, Any] = {
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "seed": int(seed),
            "width": int(width),
            "height": int(height),
            "batch_size": 1,
        }
        values.update(self.quality.get(quality, {}))
        if kind == "video":
            values["frames"] = self.frames_for(float(duration_s or 1))
            values["fps"] = self.fps
        if image_name is not None:
            values["image"] = image_name
        if not negative_prompt.strip():
            # No negative prompt asked for: the workflow's own (a model's recommended one) stays.
            del values["negative_prompt"]
        for name, target in self.inputs.items():
            if name in values:
                graph[target.node]["inputs"][target.input] = values[name]
        if self.takes_image and image_name is None:
            _drop_node(graph, self.inputs["image"].node)
        return graph


def _drop_node(graph: dict[str, Any], node: str) -> None:
    """Remove ``node`` and every input elsewhere that links to it (the optional start picture
    of a text-or-image workflow, when a job has none)."""
    graph.pop(node, None)
    for other in graph.values():
        inputs = other.get("inputs", {})
        for key in [k for k, v in inputs.items() if _links_to(v, node)]:
            del inputs[key]


def _links_to(value: Any, node: str) -> bool:
    return isinstance(value, list) and len(value) == 2 and str(value[0]) == node


def _read_json(path: Path) -> Any:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise WorkflowError(f"{path.name}: larger than {MAX_FILE_BYTES // 1024 // 1024} MiB.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WorkflowError(f"{path.name}: not valid JSON ({e}).") from e


def _sizes(value: Any, where: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, list) or not value:
        raise WorkflowError(f'{where}: a list of sizes such as "1024x1024".')
    out = []
    for item in value:
        match = SIZE.match(str(item))
        if not match:
            raise WorkflowError(f'{where}: {item!r} is not a size such as "1024x1024".')
        w, h = int(match[1]), int(match[2])
        if not (64 <= w <= 8192 and 64 <= h <= 8192):
            raise WorkflowError(f"{where}: {item} is outside 64 to 8192 pixels a side.")
        out.append((w, h))
    return tuple(out)


def workflow_load(graph_path: Path) -> Workflow:
    """Load ``<slug>.json`` and ``<slug>.vivid.json`` and check them without a server."""
    slug = graph_path.name.removesuffix(".json")
    if not SLUG.match(slug):
        raise WorkflowError(
            f"{graph_path.name}: name workflows with lower-case letters, digits, - and _."
        )
    mapping_path = graph_path.with_name(f"{slug}.vivid.json")
    if not mapping_path.exists():
        raise WorkflowError(f"{graph_path.name}: no mapping {mapping_path.name} beside it.")
    graph = _read_json(graph_path)
    mapping = _read_json(mapping_path)
    where = mapping_path.name
    if (
        not isinstance(graph, dict)
        or not graph
        or not all(
            isinstance(n, dict) and "class_type" in n and isinstance(n.get("inputs"), dict)
            for n in graph.values()
        )
    ):
        raise WorkflowError(
            f"{graph_path.name}: not a workflow in API format (use ComfyUI's Export (API))."
        )
    if not isinstance(mapping, dict):
        raise WorkflowError(f"{where}: the mapping is a JSON object.")
    graph = {str(k): v for k, v in graph.items()}

    def node(node_id: Any, what: str) -> str:
        node_id = str(node_id)
        if node_id not in graph:
            raise WorkflowError(f"{where}: {what} names node {node_id}, which the workflow lacks.")
        return node_id

    raw_inputs = mapping.get("inputs")
    if not isinstance(raw_inputs, dict):
        raise WorkflowError(f'{where}: "inputs" maps prompt, seed, width, ... to node inputs.')
    inputs: dict[str, Target] = {}
    for name, spec in raw_inputs.items():
        if name not in FIELDS:
            raise WorkflowError(f"{where}: unknown input {name!r} (one of {', '.join(FIELDS)}).")
        node_id, _, input_name = str(spec).partition(".")
        if not input_name:
            raise WorkflowError(f'{where}: {name} is "<node id>.<input name>", not {spec!r}.')
        node_id = node(node_id, name)
        if input_name not in graph[node_id]["inputs"]:
            cls = graph[node_id]["class_type"]
            raise WorkflowError(
                f"{where}: {name} names input {input_name!r} of node {node_id} ({cls}), "
                "which that node does not have in the workflow."
            )
        inputs[name] = Target(node_id, input_name)
    missing = [f for f in REQUIRED_FIELDS if f not in inputs]
    if missing:
        raise WorkflowError(f"{where}: map {', '.join(missing)} to node inputs.")

    kinds = tuple(mapping.get("kinds") or ())
    if not kinds or any(k not in KINDS for k in kinds):
        raise WorkflowError(f'{where}: "kinds" is a list of image and/or video.')
    if "video" in kinds and "frames" not in inputs:
        raise WorkflowError(f"{where}: a video workflow maps frames (the frame count input).")
    output = node(mapping.get("output"), "output")
    checkpoints = mapping.get("checkpoint") or []
    if isinstance(checkpoints, str | int):
        checkpoints = [checkpoints]
    checkpoints = tuple(node(n, "checkpoint") for n in checkpoints)
    loras = tuple(node(n, "loras") for n in mapping.get("loras") or [])

    quality = mapping.get("quality") or {}
    if not isinstance(quality, dict) or any(q not in QUALITIES for q in quality):
        raise WorkflowError(f'{where}: "quality" has draft and/or final.')
    for q, values in quality.items():
        if not isinstance(values, dict) or any(k not in inputs for k in values):
            raise WorkflowError(
                f"{where}: quality.{q} sets mapped inputs only (such as steps): {values!r}."
            )

    sizes = {}
    for kind, value in (mapping.get("sizes") or {}).items():
        if kind not in kinds:
            raise WorkflowError(f"{where}: sizes for {kind}, which the workflow does not make.")
        sizes[kind] = _sizes(value, f"{where}: sizes.{kind}")

    extra: dict[str, Any] = {}
    if "video" in kinds:
        video = mapping.get("video") or {}
        frames = video.get("frames") or {}
        try:
            extra = {
                "fps": int(video.get("fps", 24)),
                "max_duration_s": int(video.get("max_duration_s", 5)),
                "frames_multiple_of": int(frames.get("multiple_of", 1)),
                "frames_plus": int(frames.get("plus", 0)),
            }
        except (TypeError, ValueError) as e:
            raise WorkflowError(f"{where}: video.fps, max_duration_s and frames are numbers") from e
        if not (1 <= extra["fps"] <= 120 and 1 <= extra["max_duration_s"] <= 20):
            raise WorkflowError(f"{where}: video.fps 1-120 and video.max_duration_s 1-20.")
        if extra["frames_multiple_of"] < 1 or extra["frames_plus"] < 0:
            raise WorkflowError(f"{where}: video.frames.multiple_of >= 1 and plus >= 0.")

    cost = mapping.get("cost") or {}
    if not isinstance(cost, dict) or any(
        k not in ("image", "video_second")
        or not isinstance(v, dict)
        or any(q not in QUALITIES or not isinstance(n, int) or n < 0 for q, n in v.items())
        for k, v in cost.items()
    ):
        raise WorkflowError(
            f'{where}: "cost" is {{"image": {{"draft": n, "final": n}}, '
            '"video_second": {...}} in whole units.'
        )

    digest = hashlib.sha256()
    digest.update(graph_path.read_bytes())
    digest.update(mapping_path.read_bytes())
    return Workflow(
        slug=slug,
        name=str(mapping.get("name") or slug)[:60],
        description=str(mapping.get("description") or "")[:300],
        graph=graph,
        inputs=inputs,
        output=output,
        kinds=kinds,
        image_optional=bool(mapping.get("image_optional", False)),
        checkpoints=checkpoints,
        loras=loras,
        quality=quality,
        sizes=sizes,
        cost=cost,
        sha256=digest.hexdigest(),
        **extra,
    )


def workflows_load(folder: Path) -> tuple[list[Workflow], dict[str, str]]:
    """Every workflow in ``folder``, and the problem of each file that could not be loaded
    (file name → sentence). A missing folder is a problem, not a crash."""
    if not folder.is_dir():
        return [], {str(folder): f"The workflow folder {folder} does not exist."}
    loaded, problems = [], {}
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(".vivid.json"):
            continue
        try:
            loaded.append(workflow_load(path))
        except WorkflowError as e:
            problems[path.name] = str(e)
        except OSError as e:
            problems[path.name] = f"{path.name}: cannot be read ({e.strerror})."
    return loaded, problems


# --- against a server -------------------------------------------------------------------------


def _choices(spec: Any) -> list[Any] | None:
    """The allowed values of an input spec from ``/object_info``, when it is a choice list: the
    old form ``[["a", "b"], {...}]`` or the newer ``["COMBO", {"options": [...]}]``."""
    if not isinstance(spec, list) or not spec:
        return None
    if isinstance(spec[0], list):
        return spec[0]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        options = spec[1].get("options")
        return options if isinstance(options, list) else None
    return None


def object_info_problems(workflow: Workflow, object_info: dict[str, Any]) -> list[str]:
    """Why ``workflow`` does not fit a server with this ``/object_info`` (empty: it fits)."""
    problems = []
    prefix = f"Workflow {workflow.slug}"
    for node_id, node in workflow.graph.items():
        cls = node.get("class_type")
        info = object_info.get(cls)
        if info is None:
            problems.append(
                f"{prefix}: node {node_id} is a {cls}, which the server does not have "
                "(a custom node that is not installed?)."
            )
            continue
        declared = info.get("input", {})
        required = declared.get("required", {}) or {}
        optional = declared.get("optional", {}) or {}
        for name, value in node.get("inputs", {}).items():
            spec = required.get(name, optional.get(name))
            if spec is None:
                continue  # ComfyUI ignores inputs a class does not take; a mapped one is below
            choices = _choices(spec)
            if choices is not None and isinstance(value, str) and value not in choices:
                if workflow.takes_image and node_id == workflow.inputs["image"].node:
                    continue  # the start picture is uploaded per job
                problems.append(
                    f"{prefix}: node {node_id} ({cls}) input {name} is {value!r}, which the "
                    "server does not offer (is the model file installed?)."
                )
    for field_name, target in workflow.inputs.items():
        cls = workflow.class_of(target.node)
        info = object_info.get(cls)
        if info is None:
            continue
        declared = info.get("input", {})
        known = {**(declared.get("required") or {}), **(declared.get("optional") or {})}
        if target.input not in known:
            problems.append(
                f"{prefix}: {field_name} is mapped to node {target.node} ({cls}) input "
                f"{target.input}, which {cls} does not take."
            )
    if workflow.takes_image and workflow.image_optional:
        loader = workflow.inputs["image"].node
        for node_id, node in workflow.graph.items():
            cls = node.get("class_type")
            required = (object_info.get(cls) or {}).get("input", {}).get("required") or {}
            for name, value in node.get("inputs", {}).items():
                if _links_to(value, loader) and name in required:
                    problems.append(
                        f"{prefix}: the start picture is optional, but node {node_id} ({cls}) "
                        f"requires its input {name}, which the picture's node {loader} feeds."
                    )
    return problems
