"""The ComfyUI workflows shipped in platform/comfyui/ are checked against a real server's node list.

`comfyui_object_info.json` is the `/object_info` answer of ComfyUI 0.27 for the node classes these
workflows use (plus LoadImage, LoraLoader and EmptySD3LatentImage), produced by ComfyUI's own
`node_info` code, with the model files of the examples installed. Each workflow is read the way
ComfyUI's `POST /prompt` validation reads it: every node's class exists, every required input is
given, every link names an existing node and an output slot of the right type, every literal fits
its widget (type, range, combo choices). Each `.vivid.json` mapping must point at real inputs of
the right kind, and a workflow whose start picture is optional must stay valid once its image
loader is cut out, as Vivid does for a job without a picture.

The checker is written here on purpose, apart from the backend's own validation, so that the two
can catch each other's mistakes; the mutation tests at the end prove it reports broken workflows.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "platform" / "comfyui"
OBJECT_INFO = json.loads((Path(__file__).with_name("comfyui_object_info.json")).read_text())
SLUGS = sorted(
    p.name.removesuffix(".json")
    for p in WORKFLOWS.glob("*.json")
    if not p.name.endswith(".vivid.json")
)

# Vivid's mapped inputs and the ComfyUI types their node input must have.
MAPPED_TYPES = {
    "prompt": {"STRING"},
    "negative_prompt": {"STRING"},
    "seed": {"INT"},
    "width": {"INT"},
    "height": {"INT"},
    "steps": {"INT"},
    "frames": {"INT"},
    "fps": {"FLOAT", "INT"},
    "batch_size": {"INT"},
}
REQUIRED_MAPPED = {"prompt", "seed", "width", "height"}
LOADER_FILE_INPUTS = {
    "CheckpointLoaderSimple": "ckpt_name",
    "UNETLoader": "unet_name",
    "CLIPLoader": "clip_name",
    "VAELoader": "vae_name",
    "LoraLoader": "lora_name",
}
OUTPUT_CLASSES = {
    "image": {"SaveImage"},
    "video": {"SaveVideo", "VHS_VideoCombine", "SaveAnimatedWEBP"},
}


def load(slug: str) -> tuple[dict[str, Any], dict[str, Any]]:
    graph = json.loads((WORKFLOWS / f"{slug}.json").read_text())
    mapping = json.loads((WORKFLOWS / f"{slug}.vivid.json").read_text())
    return graph, mapping


# --- the checker ------------------------------------------------------------------------------


def input_spec(class_type: str, name: str) -> tuple[str, list[Any]] | None:
    """('required' | 'optional', spec) of a node input as /object_info declares it, or None."""
    declared = OBJECT_INFO[class_type]["input"]
    for section in ("required", "optional"):
        if name in declared.get(section, {}):
            return section, declared[section][name]
    return None


def spec_type(spec: list[Any]) -> str:
    """The input's type: a V1 combo is a bare list of choices, a V3 one ["COMBO", {"options"}]."""
    return "COMBO" if isinstance(spec[0], list) else spec[0]


def combo_choices(spec: list[Any]) -> list[Any]:
    return spec[0] if isinstance(spec[0], list) else spec[1]["options"]


def is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and type(value[1]) is int
    )


def literal_problem(spec: list[Any], value: Any) -> str | None:
    """Why a literal does not fit the widget of `spec`, or None when it does."""
    kind = spec_type(spec)
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if kind == "COMBO":
        choices = combo_choices(spec)
        return None if value in choices else f"{value!r} is not one of {choices}"
    if kind == "BOOLEAN":
        return None if type(value) is bool else f"{value!r} is not a boolean"
    if kind == "STRING":
        return None if isinstance(value, str) else f"{value!r} is not a string"
    if kind in ("INT", "FLOAT"):
        if (
            type(value) is bool
            or not isinstance(value, int | float)
            or (kind == "INT" and type(value) is not int)
        ):
            return f"{value!r} is not {kind}"
        if "min" in options and value < options["min"]:
            return f"{value!r} is below the minimum {options['min']}"
        if "max" in options and value > options["max"]:
            return f"{value!r} is above the maximum {options['max']}"
        step = options.get("step")
        if kind == "INT" and step and (value - options.get("min", 0)) % step:
            return f"{value!r} is off the widget's step of {step} from {options.get('min', 0)}"
        return None
    return f"{value!r} is a literal, but {kind} can only come from a link"


def graph_problems(graph: dict[str, Any]) -> list[str]:
    """Everything ComfyUI's prompt validation would refuse in an API-format graph."""
    problems = []
    for node_id, node in graph.items():
        class_type = node.get("class_type")
        where = f"node {node_id} ({class_type})"
        if class_type not in OBJECT_INFO:
            problems.append(f"{where}: no such node class on the server")
            continue
        if not isinstance(node.get("inputs"), dict) or not isinstance(
            node.get("_meta", {}).get("title"), str
        ):
            problems.append(f"{where}: not in API format (inputs and _meta.title)")
            continue
        declared = OBJECT_INFO[class_type]["input"]
        for name in declared.get("required", {}):
            if name not in node["inputs"]:
                problems.append(f"{where}: required input {name!r} is missing")
        for name, value in node["inputs"].items():
            found = input_spec(class_type, name)
            if found is None:
                problems.append(f"{where}: {name!r} is not an input of {class_type}")
                continue
            spec = found[1]
            if is_link(value):
                source_id, slot = value
                source = graph.get(source_id)
                if source is None:
                    problems.append(f"{where}: {name!r} links to missing node {source_id}")
                    continue
                outputs = OBJECT_INFO.get(source.get("class_type"), {}).get("output", [])
                if not 0 <= slot < len(outputs):
                    problems.append(
                        f"{where}: {name!r} links to output {slot} of node {source_id},"
                        f" which has {len(outputs)}"
                    )
                    continue
                if outputs[slot] != spec_type(spec) and "*" not in (outputs[slot], spec_type(spec)):
                    problems.append(
                        f"{where}: {name!r} wants {spec_type(spec)}"
                        f" but node {source_id} gives {outputs[slot]}"
                    )
            else:
                reason = literal_problem(spec, value)
                if reason:
                    problems.append(f"{where}: {name!r}: {reason}")
    if not any(OBJECT_INFO.get(n.get("class_type"), {}).get("output_node") for n in graph.values()):
        problems.append("the graph has no output node")
    problems += cycle_problems(graph)
    return problems


def cycle_problems(graph: dict[str, Any]) -> list[str]:
    state: dict[str, str] = {}

    def visit(node_id: str) -> bool:
        if state.get(node_id) == "done":
            return False
        if state.get(node_id) == "open":
            return True
        state[node_id] = "open"
        for value in graph.get(node_id, {}).get("inputs", {}).values():
            if is_link(value) and value[0] in graph and visit(value[0]):
                return True
        state[node_id] = "done"
        return False

    return [f"node {n} is part of a cycle" for n in graph if visit(n)][:1]


def without_image(graph: dict[str, Any], image_node: str) -> tuple[dict[str, Any], list[str]]:
    """The graph as Vivid sends it for a job without a start picture, and any link it had to cut
    from a required input (which would make that graph invalid)."""
    problems = []
    cut = {k: copy.deepcopy(v) for k, v in graph.items() if k != image_node}
    for node_id, node in cut.items():
        for name, value in list(node["inputs"].items()):
            if is_link(value) and value[0] == image_node:
                found = input_spec(node["class_type"], name)
                if found is None or found[0] != "optional":
                    problems.append(
                        f"node {node_id} ({node['class_type']}):"
                        f" the image feeds required input {name!r}"
                    )
                del node["inputs"][name]
    return cut, problems


MAPPING_FIELDS = {
    "name",
    "description",
    "kinds",
    "inputs",
    "image_optional",
    "output",
    "checkpoint",
    "loras",
    "quality",
    "sizes",
    "video",
    "cost",
}


def mapping_problems(graph: dict[str, Any], mapping: dict[str, Any]) -> list[str]:
    problems = [
        f"{key}: not a field of the mapping" for key in sorted(mapping.keys() - MAPPING_FIELDS)
    ]
    for key in ("name", "description"):
        if not isinstance(mapping.get(key), str) or not mapping[key].strip():
            problems.append(f"{key}: must be a non-empty text")
    if not isinstance(mapping.get("image_optional", False), bool):
        problems.append("image_optional: must be true or false")
    for kind, costs in mapping.get("cost", {}).items():
        if kind not in ("image", "video_second") or set(costs) != {"draft", "final"}:
            problems.append(f"cost.{kind}: must be image or video_second, with draft and final")
    inputs = mapping.get("inputs", {})
    specs: dict[str, list[Any]] = {}
    for missing in sorted(REQUIRED_MAPPED - inputs.keys()):
        problems.append(f"inputs: {missing!r} must be mapped")
    for key, target in inputs.items():
        match = re.fullmatch(r"([^.]+)\.(.+)", target) if isinstance(target, str) else None
        node = graph.get(match.group(1)) if match else None
        if node is None:
            problems.append(f"inputs.{key}: {target!r} names no node of the workflow")
            continue
        found = input_spec(node["class_type"], match.group(2))
        if found is None:
            problems.append(f"inputs.{key}: {node['class_type']} has no input {match.group(2)!r}")
            continue
        spec = found[1]
        specs[key] = spec
        if is_link(node["inputs"].get(match.group(2))):
            problems.append(
                f"inputs.{key}: {target} is fed by a link, so Vivid's value would cut the graph"
            )
        if key == "image":
            if node["class_type"] != "LoadImage" or match.group(2) != "image":
                problems.append(f"inputs.image: {target} is not a LoadImage node's image input")
        elif key in MAPPED_TYPES and spec_type(spec) not in MAPPED_TYPES[key]:
            problems.append(
                f"inputs.{key}: {target} is {spec_type(spec)}, not {sorted(MAPPED_TYPES[key])}"
            )
        elif key not in MAPPED_TYPES:
            problems.append(f"inputs.{key}: Vivid fills no input of that name")

    kinds = mapping.get("kinds", [])
    if not kinds or not set(kinds) <= OUTPUT_CLASSES.keys():
        problems.append(f"kinds: {kinds!r} must be a non-empty subset of image, video")
    output = graph.get(str(mapping.get("output")))
    if output is None:
        problems.append(f"output: {mapping.get('output')!r} names no node")
    else:
        if not OBJECT_INFO[output["class_type"]]["output_node"]:
            problems.append(f"output: {output['class_type']} is not an output node")
        if not any(output["class_type"] in OUTPUT_CLASSES[k] for k in kinds if k in OUTPUT_CLASSES):
            problems.append(f"output: {output['class_type']} does not save {' or '.join(kinds)}")

    for node_id in mapping.get("checkpoint", []) + mapping.get("loras", []):
        node = graph.get(node_id)
        if node is None or node["class_type"] not in LOADER_FILE_INPUTS:
            problems.append(f"checkpoint/loras: {node_id!r} is not a model loader node")
    listed = mapping.get("checkpoint", []) + mapping.get("loras", [])
    for node_id, node in graph.items():
        # LoRA loaders are found without being listed; every other loader must be.
        kind = node["class_type"]
        if kind in LOADER_FILE_INPUTS and kind != "LoraLoader" and node_id not in listed:
            problems.append(
                f"checkpoint: loader node {node_id} ({node['class_type']}) is not listed"
            )

    for quality, values in mapping.get("quality", {}).items():
        for key, value in values.items():
            if key not in specs:
                problems.append(f"quality.{quality}.{key}: not a mapped input")
            elif reason := literal_problem(specs[key], value):
                problems.append(f"quality.{quality}.{key}: {reason}")

    for kind, sizes in mapping.get("sizes", {}).items():
        if kind not in kinds:
            problems.append(f"sizes.{kind}: the workflow does not make that kind")
        for size in sizes:
            match = re.fullmatch(r"(\d+)x(\d+)", size)
            if not match:
                problems.append(f"sizes.{kind}: {size!r} is not WxH")
                continue
            for key, value in (("width", int(match.group(1))), ("height", int(match.group(2)))):
                if key in specs and (reason := literal_problem(specs[key], value)):
                    problems.append(f"sizes.{kind}: {size}: {key} {reason}")

    video = mapping.get("video")
    if "video" in kinds:
        if not video:
            problems.append("video: a video workflow needs fps, max_duration_s and the frames rule")
        else:
            rule = video["frames"]
            needed = video["max_duration_s"] * video["fps"]
            longest = rule["plus"] + rule["multiple_of"] * max(
                0, -(-(needed - rule["plus"]) // rule["multiple_of"])
            )
            if "frames" in specs and (reason := literal_problem(specs["frames"], longest)):
                problems.append(f"video: the longest clip's {longest} frames: {reason}")
            fps_target = inputs.get("fps")
            if fps_target:
                node_id, name = fps_target.split(".", 1)
                if graph.get(node_id, {}).get("inputs", {}).get(name) != video["fps"]:
                    problems.append(
                        f"video.fps {video['fps']} differs from the workflow's {fps_target}"
                    )
    elif video:
        problems.append("video: set for a workflow that makes no video")

    if "image" in inputs and mapping.get("image_optional"):
        cut, cut_problems = without_image(graph, inputs["image"].split(".", 1)[0])
        problems += cut_problems
        problems += [f"without the start picture: {p}" for p in graph_problems(cut)]
    return problems


# --- the shipped workflows ----------------------------------------------------------------------


def test_both_examples_are_shipped():
    assert SLUGS == ["sdxl-turbo", "wan22-ti2v"]


@pytest.mark.parametrize("slug", SLUGS)
def test_workflow_is_valid_for_the_server(slug):
    graph, _ = load(slug)
    assert graph_problems(graph) == []


@pytest.mark.parametrize("slug", SLUGS)
def test_mapping_names_real_inputs(slug):
    graph, mapping = load(slug)
    assert mapping_problems(graph, mapping) == []


def test_wan_start_picture_only_feeds_optional_inputs():
    graph, mapping = load("wan22-ti2v")
    image_node = mapping["inputs"]["image"].split(".", 1)[0]
    assert mapping["image_optional"] is True
    fed = [
        (node["class_type"], name)
        for node in graph.values()
        for name, value in node["inputs"].items()
        if is_link(value) and value[0] == image_node
    ]
    assert fed == [("Wan22ImageToVideoLatent", "start_image")]
    cut, problems = without_image(graph, image_node)
    assert problems == []
    assert graph_problems(cut) == []


def test_object_info_lists_the_example_models_among_others():
    for slug in SLUGS:
        graph, _ = load(slug)
        for node in graph.values():
            name = LOADER_FILE_INPUTS.get(node["class_type"])
            if name:
                choices = combo_choices(input_spec(node["class_type"], name)[1])
                assert node["inputs"][name] in choices and len(choices) > 1


# --- the checker refuses broken workflows ------------------------------------------------------


def _break(slug: str, change) -> tuple[dict[str, Any], dict[str, Any]]:
    graph, mapping = load(slug)
    change(graph, mapping)
    return graph, mapping


def _set(node: str, **inputs):
    return lambda g, m: g[node]["inputs"].update(inputs)


def _map(**fields):
    return lambda g, m: m["inputs"].update(fields)


# name: (workflow, change, what the checker must say)
GRAPH_BREAKS = {
    "unknown class": (
        "sdxl-turbo",
        lambda g, m: g["14"].update(class_type="KSamplerPick"),
        "node 14 (KSamplerPick): no such node class",
    ),
    "missing required input": (
        "sdxl-turbo",
        lambda g, m: g["13"]["inputs"].pop("sigmas"),
        "required input 'sigmas' is missing",
    ),
    "unknown input": ("sdxl-turbo", _set("5", depth=3), "'depth' is not an input"),
    "link to a missing node": ("sdxl-turbo", _set("8", vae=["99", 0]), "missing node 99"),
    "link to a missing output slot": (
        "sdxl-turbo",
        _set("8", vae=["20", 3]),
        "links to output 3 of node 20, which has 3",
    ),
    "link of the wrong type": ("sdxl-turbo", _set("8", vae=["20", 1]), "wants VAE but node 20"),
    "checkpoint not installed": (
        "sdxl-turbo",
        _set("20", ckpt_name="sd_xl_turbo_1.0.safetensors"),
        "'sd_xl_turbo_1.0.safetensors' is not one of",
    ),
    "V3 combo value not offered": ("wan22-ti2v", _set("58", format="webm"), "'webm' is not one"),
    "integer above its maximum": ("sdxl-turbo", _set("22", steps=11), "above the maximum 10"),
    "float where an integer goes": ("wan22-ti2v", _set("55", length=121.0), "121.0 is not INT"),
    "frame count off the 4k+1 grid": ("wan22-ti2v", _set("55", length=120), "step of 4 from 1"),
    "string where a number goes": ("wan22-ti2v", _set("57", fps="24"), "'24' is not FLOAT"),
    "no output node": ("sdxl-turbo", lambda g, m: g.pop("27"), "no output node"),
    "cycle": ("wan22-ti2v", _set("48", model=["48", 0]), "part of a cycle"),
}


@pytest.mark.parametrize("name", GRAPH_BREAKS)
def test_checker_refuses_a_broken_graph(name):
    slug, change, complaint = GRAPH_BREAKS[name]
    graph, _ = _break(slug, change)
    problems = graph_problems(graph)
    assert any(complaint in p for p in problems), problems


MAPPING_BREAKS = {
    "prompt not mapped": (
        "sdxl-turbo",
        lambda g, m: m["inputs"].pop("prompt"),
        "'prompt' must be mapped",
    ),
    "misspelt field": (
        "wan22-ti2v",
        lambda g, m: m.update(image_optinal=m.pop("image_optional")),
        "image_optinal: not a field",
    ),
    "mapped node missing": ("sdxl-turbo", _map(seed="3.seed"), "names no node"),
    "mapped input missing": ("sdxl-turbo", _map(steps="13.steps"), "has no input 'steps'"),
    "mapped input of the wrong type": ("sdxl-turbo", _map(width="6.text"), "is STRING, not"),
    "mapped input fed by a link": ("sdxl-turbo", _map(seed="8.vae"), "fed by a link"),
    "output is not a saver": (
        "sdxl-turbo",
        lambda g, m: m.update(output="8"),
        "VAEDecode is not an output node",
    ),
    "video saved by a picture workflow": (
        "sdxl-turbo",
        lambda g, m: m.update(kinds=["video"]),
        "SaveImage does not save video",
    ),
    "quality value out of range": (
        "sdxl-turbo",
        lambda g, m: m["quality"]["final"].update(steps=20),
        "quality.final.steps: 20 is above the maximum 10",
    ),
    "size off the latent grid": (
        "wan22-ti2v",
        lambda g, m: m["sizes"].update(video=["1280x720"]),
        "1280x720: height 720 is off the widget's step of 32",
    ),
    "clip longer than the node allows": (
        "wan22-ti2v",
        lambda g, m: m["video"].update(max_duration_s=700),
        "16801 frames",
    ),
    "fps that the workflow does not render": (
        "wan22-ti2v",
        lambda g, m: m["video"].update(fps=16),
        "video.fps 16 differs",
    ),
    "checkpoint loader not listed": (
        "wan22-ti2v",
        lambda g, m: m.update(checkpoint=["37"]),
        "loader node 38 (CLIPLoader) is not listed",
    ),
    "image mapped to a non-loader": (
        "wan22-ti2v",
        _map(image="55.start_image"),
        "is not a LoadImage node's image input",
    ),
    "start picture feeds a required input": (
        "wan22-ti2v",
        lambda g, m: g.update(
            {
                "90": {
                    "inputs": {"filename_prefix": "start", "images": ["56", 0]},
                    "class_type": "SaveImage",
                    "_meta": {"title": "Save Image"},
                }
            }
        ),
        "node 90 (SaveImage): the image feeds required input 'images'",
    ),
}


@pytest.mark.parametrize("name", MAPPING_BREAKS)
def test_checker_refuses_a_broken_mapping(name):
    slug, change, complaint = MAPPING_BREAKS[name]
    graph, mapping = _break(slug, change)
    problems = mapping_problems(graph, mapping)
    assert any(complaint in p for p in problems), problems
