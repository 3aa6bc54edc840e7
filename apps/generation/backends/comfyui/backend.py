"""Real models on the operator's own GPUs, through ComfyUI servers.

One configured ``comfyui`` backend is a pool of servers and a folder of workflows; each workflow
becomes a model choice of its own (alias ``comfyui:<workflow>``) with its kinds, sizes, durations
and costs. A job's pictures are queued one prompt at a time (seed, seed+1, ... like every backend,
so a grid is the same pictures whichever server made each) on the least busy server that answers
and fits the workflow.

Following a prompt: the socket for the job's client id is opened before the prompt is queued, so
no message is missed; ``progress`` moves the job's bar and ``execution_success`` ends the wait. If
the socket breaks off or goes quiet, the history and queue are asked over HTTP, and the socket is
opened again. A server that stops answering (refused, reset, 5xx, or a prompt that vanished from
its queue and history: it restarted) is marked down for every process and the job fails with a
transient error, so the worker's retry runs it on another server; results are stored only when
the job ends, so it ends with exactly one set of assets. A cancel deletes a queued prompt or
interrupts a running one.

Results become ordinary assets: pictures are stored as PNG at exactly Vivid's size, clips are
re-encoded to Vivid's H.264 at Vivid's frame rate without sound (``fitting``). Each file carries
what provenance records: the workflow and its hash, the model files and LoRAs with their sha256
when the server reports one, the seed the server ran with, the size rendered and the prompt id.
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from contextlib import ExitStack
from functools import cached_property
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from websockets.exceptions import ConnectionClosed

from apps.generation.backends.base import (
    BackendError,
    GeneratedFile,
    GenerationBackend,
    GenerationCanceled,
    GenerationRequest,
    ProgressCallback,
)
from apps.generation.backends.comfyui.client import (
    ComfyServer,
    ServerGone,
    ServerRefused,
    socket_message,
)
from apps.generation.backends.comfyui.pool import ServerPool
from apps.generation.backends.comfyui.workflows import Workflow, workflows_load
from apps.generation.backends.fitting import (
    fit_video,
    fitted_png,
    nearest_size,
    start_picture,
    vivid_sizes,
)

logger = logging.getLogger(__name__)

OPTIONS: dict[str, Any] = {
    "urls": [],  # base URLs of the ComfyUI servers, e.g. ["http://gpu1:8188"]
    "workflows_dir": "",  # the folder of <slug>.json + <slug>.vivid.json
    # An environment variable holding one header every request carries, "Name: value" (e.g.
    # "Authorization: Bearer ..."), for servers behind an authenticating proxy; read per call.
    "auth_header_env": "COMFYUI_AUTH_HEADER",
    "timeout": 30.0,  # seconds per HTTP request
    "connect_timeout": 3.0,
    "max_wait_s": 540.0,  # a prompt not done by then is stopped (the reaper stops jobs at 600 s)
    "stall_s": 15.0,  # a socket silent this long: the server is asked over HTTP
    "probe_ttl_s": 15.0,  # how long "this server answers" is believed
    "retry_after_s": 30.0,  # a server that stopped answering is skipped this long
}
HEARTBEAT_S = 0.5  # progress is reported (and a cancel noticed) at least this often
SOURCE = "ComfyUI server"
GONE_MESSAGE = "The ComfyUI server stopped answering."
OOM_MESSAGE = (
    "The GPU ran out of memory while making this; try a draft, a shorter clip or a smaller size."
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".gif")


class ComfyUIBackend(GenerationBackend):
    """The configured pool and folder; ``expand`` gives one model choice per workflow."""

    name = "ComfyUI"

    def __init__(self, alias: str, **options: Any) -> None:
        unknown = set(options) - set(OPTIONS)
        if unknown:
            names = ", ".join(sorted(unknown))
            raise ImproperlyConfigured(f"Unknown option(s) for the {alias} backend: {names}.")
        merged = {**OPTIONS, **options}
        super().__init__(alias, **merged)
        urls = merged["urls"]
        if isinstance(urls, str):
            urls = [u for u in urls.split(",") if u.strip()]
        if not urls:
            raise ImproperlyConfigured(f"The {alias} backend needs at least one server URL.")
        self.urls = [u.strip().rstrip("/") for u in urls]
        self.workflows_dir = Path(merged["workflows_dir"])
        self.auth_header_env = merged["auth_header_env"]
        self.workflows, self.problems = workflows_load(self.workflows_dir)
        for file, problem in self.problems.items():
            logger.error("ComfyUI workflow %s cannot be used: %s", file, problem)

    def _headers(self) -> dict[str, str]:
        raw = os.environ.get(self.auth_header_env, "") if self.auth_header_env else ""
        name, sep, value = raw.partition(":")
        return {name.strip(): value.strip()} if sep and name.strip() else {}

    @cached_property
    def pool(self) -> ServerPool:
        o = self.options
        servers = [
            ComfyServer(
                url,
                headers=self._headers(),
                timeout=float(o["timeout"]),
                connect_timeout=float(o["connect_timeout"]),
            )
            for url in self.urls
        ]
        return ServerPool(
            servers,
            probe_ttl_s=float(o["probe_ttl_s"]),
            retry_after_s=float(o["retry_after_s"]),
            probe_timeout_s=min(2.0, float(o["connect_timeout"])),
        )

    def expand(self) -> list[GenerationBackend]:
        return [ComfyUIWorkflowBackend(self, workflow) for workflow in self.workflows]

    def generate(self, request, progress):  # pragma: no cover - expanded, never called
        raise BackendError(f"Choose one of the {self.alias} backend's workflows.")


class ComfyUIWorkflowBackend(GenerationBackend):
    """One workflow on the pool: what the Create page lists as a model."""

    def __init__(self, group: ComfyUIBackend, workflow: Workflow) -> None:
        super().__init__(f"{group.alias}:{workflow.slug}", **group.options)
        self.group = group
        self.workflow = workflow
        self.max_wait_s = float(group.options["max_wait_s"])
        self.stall_s = float(group.options["stall_s"])
        self.name = workflow.name
        self.model = workflow.model_name[:100]
        # The workflow file's hash: what exactly ran, for provenance and credentials.
        self.version = f"workflow {workflow.sha256[:12]}"
        self.kinds = workflow.kinds
        self.sizes = vivid_sizes("image") if "image" in workflow.kinds else ()
        self.video_sizes = vivid_sizes("video") if "video" in workflow.kinds else ()
        self.max_duration_s = workflow.max_duration_s if "video" in workflow.kinds else 0
        # A video workflow that takes a start picture continues clips and animates pictures.
        self.can_continue = "video" in workflow.kinds and workflow.takes_image
        self._hashes: dict[tuple[str, str, str], str | None] = {}

    @property
    def pool(self) -> ServerPool:
        return self.group.pool

    def describe(self) -> dict[str, Any]:
        reason = self.unavailable()
        return {
            **super().describe(),
            "description": self.workflow.description,
            "workflow": self.workflow.slug,
            "available": reason is None,
            "unavailable_reason": reason,
        }

    def unavailable(self) -> str | None:
        """Why no job can run now (no server answers, or none fits the workflow), or None."""
        reachable = self.pool.reachable()
        if not reachable:
            return "No ComfyUI server is reachable right now; try again in a little while."
        known = [self.pool.known_problems(s, self.workflow) for s in reachable]
        if known and all(k for k in known):
            return f"This model does not fit the servers: {known[0][0]}"
        return None

    def cost(self, *, kind: str, quality: str, count: int, duration_s: float | None) -> int | None:
        """The workflow's own cost units, or None for Vivid's default (``quotas.job_cost``)."""
        per = self.workflow.cost.get("video_second" if kind == "video" else "image", {})
        units = per.get(quality)
        if units is None:
            return None
        return math.ceil(duration_s or 1) * units if kind == "video" else count * units

    # --- running ------------------------------------------------------------------------------

    def generate(
        self, request: GenerationRequest, progress: ProgressCallback
    ) -> list[GeneratedFile]:
        return list(self.generate_each(request, progress))

    def generate_each(self, request: GenerationRequest, progress: ProgressCallback, *, start=0):
        problem = self.refusal(request.kind, request.width, request.height, request.duration_s)
        if problem:
            raise BackendError(problem)
        count = request.count if request.kind == "image" else 1
        for index in range(start, count):
            seed, _ = request.picture(index)

            def part(fraction: float, index: int = index) -> None:
                # 1.0 is the job's to say, once its results are stored.
                progress(min((index + fraction) / count, 0.99))

            yield self._one(request, seed, part)

    def _render_size(self, request: GenerationRequest) -> tuple[int, int]:
        sizes = self.workflow.sizes.get(request.kind)
        if not sizes:
            return request.width, request.height
        return nearest_size(sizes, request.width, request.height)

    def _one(self, request: GenerationRequest, seed: int, progress: ProgressCallback):
        workflow = self.workflow
        if request.start_frame is not None and not workflow.takes_image:
            raise BackendError(f"The {self.alias} model cannot start from a picture.")
        if request.start_frame is None and workflow.takes_image and not workflow.image_optional:
            raise BackendError(f"The {self.alias} model needs a picture to start from.")
        server, why = self.pool.choose(workflow)
        if server is None:
            if why.startswith("misfit:"):
                raise BackendError(f"This model does not fit the servers: {why[7:]}")
            raise BackendError("No ComfyUI server is reachable.", transient=True)
        width, height = self._render_size(request)
        client_id = uuid.uuid4().hex
        progress(0.0)
        try:
            image_name = None
            if request.start_frame is not None:
                picture = start_picture(request.start_frame, width, height)
                image_name = server.upload_image(f"vivid-{client_id}.png", picture)
            graph = workflow.fill(
                kind=request.kind,
                prompt=request.prompt,
                negative_prompt=request.negative_prompt,
                seed=seed,
                width=width,
                height=height,
                quality=request.quality,
                duration_s=request.duration_s,
                image_name=image_name,
            )
            started = time.monotonic()
            entry, prompt_id = self._run(server, graph, client_id, progress)
            data = self._output(server, entry)
            self.pool.mark_up(server)
            made_with = self._made_with(server, entry, prompt_id, seed, width, height, graph)
            made_with["server_s"] = round(time.monotonic() - started, 3)
        except ServerGone as e:
            self.pool.mark_down(server, str(e))
            raise BackendError(GONE_MESSAGE, transient=True) from e
        except ServerRefused as e:
            raise self._refused(e) from e
        if request.kind == "video":
            data = fit_video(
                data,
                width=request.width,
                height=request.height,
                duration_s=float(request.duration_s or 1),
                quality=request.quality,
                progress=lambda f: progress(0.9 + 0.1 * f),
                source=SOURCE,
            )
            mime, duration = "video/mp4", float(request.duration_s or 1)
        else:
            data = fitted_png(data, request.width, request.height, source=SOURCE)
            mime, duration = "image/png", None
        progress(1.0)
        return GeneratedFile(
            data=data,
            mime=mime,
            width=request.width,
            height=request.height,
            duration_s=duration,
            extra={"seed": made_with["seed"], "made_with": made_with},
        )

    def _run(
        self, server: ComfyServer, graph: dict[str, Any], client_id: str, progress
    ) -> tuple[dict[str, Any], str]:
        """Queue ``graph`` and follow it to its history entry; progress fills 0..0.9."""
        with ExitStack() as sockets:
            ws = server.socket_open(client_id, sockets)
            prompt_id = server.prompt_queue(graph, client_id)
            return self._follow(server, ws, sockets, client_id, prompt_id, progress), prompt_id

    def _follow(
        self, server, ws, sockets: ExitStack, client_id: str, prompt_id: str, progress
    ) -> dict[str, Any]:
        deadline = time.monotonic() + self.max_wait_s
        last_heard = time.monotonic()
        shown = 0.0  # the sampler's share done; never moves back (a second sampler restarts)
        while True:
            message = None
            if ws is not None:
                try:
                    message = socket_message(ws.recv(timeout=HEARTBEAT_S))
                    last_heard = time.monotonic()
                except TimeoutError:
                    pass
                except ConnectionClosed:
                    logger.info("ComfyUI %s: socket broke off during %s", server.label, prompt_id)
                    ws = None
            else:
                time.sleep(HEARTBEAT_S)
            data = (message or {}).get("data") or {}
            if message and data.get("prompt_id") == prompt_id:
                kind = message.get("type")
                if kind == "progress" and data.get("max"):
                    value = min(max(float(data.get("value", 0)) / float(data["max"]), 0.0), 1.0)
                    shown = max(shown, value)
                elif kind == "execution_error":
                    raise self._execution_error(data)
                elif kind == "execution_interrupted":
                    raise BackendError("The server's operator stopped this job.")
                elif kind == "execution_success" or (
                    kind == "executing" and data.get("node") is None
                ):
                    return self._finished(server, prompt_id)
            try:
                progress(0.05 + 0.85 * shown)
            except GenerationCanceled:
                self._cancel(server, prompt_id)
                raise
            now = time.monotonic()
            if ws is None or now - last_heard > self.stall_s:
                # The socket broke off or went quiet: ask over HTTP (raises if the server is gone).
                entry = server.history(prompt_id)
                if entry is not None and _completed(entry):
                    return self._checked(entry)
                if not server.prompt_state(prompt_id):
                    entry = server.history(prompt_id)  # it may have finished meanwhile
                    if entry is not None and _completed(entry):
                        return self._checked(entry)
                    raise ServerGone("the prompt vanished from the server (did it restart?)")
                last_heard = now
                if ws is None:
                    try:
                        ws = server.socket_open(client_id, sockets)
                    except ServerGone:
                        ws = None
            if now > deadline:
                self._cancel(server, prompt_id)
                raise BackendError(f"The ComfyUI server did not finish in {self.max_wait_s:g} s.")

    def _finished(self, server: ComfyServer, prompt_id: str) -> dict[str, Any]:
        for _ in range(20):  # the history entry is written as the success message goes out
            entry = server.history(prompt_id)
            if entry is not None and _completed(entry):
                return self._checked(entry)
            time.sleep(0.05)
        raise ServerGone("the finished prompt has no history entry")

    def _checked(self, entry: dict[str, Any]) -> dict[str, Any]:
        status = entry.get("status") or {}
        if status.get("status_str") == "error":
            for kind, data in status.get("messages") or []:
                if kind == "execution_error":
                    raise self._execution_error(data)
                if kind == "execution_interrupted":
                    raise BackendError("The server's operator stopped this job.")
            raise BackendError("The ComfyUI server could not make this.")
        return entry

    def _cancel(self, server: ComfyServer, prompt_id: str) -> None:
        """Stop paying for a prompt nobody waits for: delete it if queued, else interrupt it."""
        try:
            if server.prompt_state(prompt_id) == "pending":
                server.prompt_delete(prompt_id)
            else:
                server.interrupt(prompt_id)
        except (ServerGone, ServerRefused):
            logger.info("could not stop prompt %s on %s", prompt_id, server.label, exc_info=True)

    def _output(self, server: ComfyServer, entry: dict[str, Any]) -> bytes:
        outputs = (entry.get("outputs") or {}).get(self.workflow.output) or {}
        suffixes = VIDEO_SUFFIXES if self.workflow.kinds == ("video",) else IMAGE_SUFFIXES
        if "video" in self.workflow.kinds and "image" in self.workflow.kinds:
            suffixes = VIDEO_SUFFIXES + IMAGE_SUFFIXES
        files = [
            item
            for key in ("videos", "gifs", "images")
            for item in outputs.get(key) or []
            if isinstance(item, dict) and str(item.get("filename", "")).lower().endswith(suffixes)
        ]
        if not files:
            raise BackendError(
                f"The workflow's output node {self.workflow.output} produced no file Vivid can "
                "store."
            )
        return server.view(files[0])

    def _made_with(
        self,
        server: ComfyServer,
        entry: dict[str, Any],
        prompt_id: str,
        seed: int,
        width: int,
        height: int,
        graph: dict[str, Any],
    ) -> dict[str, Any]:
        workflow = self.workflow
        ran = graph
        prompt = entry.get("prompt")
        if isinstance(prompt, list) and len(prompt) > 2 and isinstance(prompt[2], dict):
            ran = prompt[2]  # the graph as the server ran it
        target = workflow.inputs["seed"]
        used = (ran.get(target.node) or {}).get("inputs", {}).get(target.input, seed)
        models = []
        for model in workflow.models():
            key = (server.url, model["folder"], model["name"])
            if key not in self._hashes:
                self._hashes[key] = server.model_sha256(model["folder"], model["name"])
            node_inputs = (ran.get(model["node"]) or {}).get("inputs", {})
            described = {
                "class": model["class"],
                "name": model["name"],
                "sha256": self._hashes[key],
            }
            for strength in ("strength_model", "strength_clip"):
                if strength in node_inputs:
                    described[strength] = node_inputs[strength]
            models.append(described)
        made = {
            "workflow": workflow.slug,
            "workflow_sha256": workflow.sha256,
            "models": models,
            "seed": int(used) if isinstance(used, int) else seed,
            "render_size": f"{width}x{height}",
            "prompt_id": prompt_id,
        }
        for name in ("steps", "frames", "fps"):
            if name in workflow.inputs:
                t = workflow.inputs[name]
                value = (ran.get(t.node) or {}).get("inputs", {}).get(t.input)
                if isinstance(value, int | float):
                    made[name] = value
        return made

    def _execution_error(self, data: dict[str, Any]) -> BackendError:
        kind = str(data.get("exception_type") or "")
        message = str(data.get("exception_message") or "")
        logger.warning(
            "ComfyUI workflow %s failed in node %s (%s): %s: %s",
            self.workflow.slug,
            data.get("node_id"),
            data.get("node_type"),
            kind,
            message[:500],
        )
        if "OutOfMemory" in kind or "out of memory" in message.lower():
            return BackendError(OOM_MESSAGE)
        return BackendError(
            f"The ComfyUI server could not make this (its {data.get('node_type') or 'workflow'} "
            "step failed)."
        )

    def _refused(self, e: ServerRefused) -> BackendError:
        body = e.body if isinstance(e.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        logger.error(
            "ComfyUI refused workflow %s: HTTP %s %s node_errors=%s",
            self.workflow.slug,
            e.status,
            error,
            body.get("node_errors"),
        )
        if e.status in (401, 403):
            return BackendError("The ComfyUI server refused Vivid's credentials.")
        detail = error.get("message") or ""
        for node_id, problem in (body.get("node_errors") or {}).items():
            errors = problem.get("errors") or [{}]
            detail = (
                f"node {node_id} ({problem.get('class_type')}): "
                f"{errors[0].get('message', '')} {errors[0].get('details', '')}".strip()
            )
            break
        return BackendError(
            f"The ComfyUI server refused the {self.workflow.slug} workflow: {detail}"
        )


def _completed(entry: dict[str, Any]) -> bool:
    status = entry.get("status") or {}
    return bool(status.get("completed")) or status.get("status_str") in ("success", "error")
