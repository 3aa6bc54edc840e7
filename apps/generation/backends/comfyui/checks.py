"""The start-up check of every configured ComfyUI pool: workflows that cannot be loaded, servers
that do not answer, and workflows that do not fit a server's nodes and model files.

Run by ``manage.py comfyui_check`` (exit status 1 on any problem) and, in the background, when a
worker starts, so an operator finds each problem named in the worker's log before a creator
meets it as a failed job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.module_loading import import_string

from apps.generation.backends.comfyui.backend import ComfyUIBackend
from apps.generation.backends.comfyui.client import ServerGone, ServerRefused

logger = logging.getLogger(__name__)


@dataclass
class Report:
    servers: dict[str, str] = field(default_factory=dict)  # server → "ok" or what is wrong
    workflows: dict[str, list[str]] = field(default_factory=dict)  # alias → problems
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def comfyui_pools() -> list[ComfyUIBackend]:
    pools = []
    for alias, conf in settings.GENERATION_BACKENDS.items():
        cls = import_string(conf["BACKEND"])
        if issubclass(cls, ComfyUIBackend):
            pools.append(cls(alias, **conf.get("OPTIONS", {})))
    return pools


def comfyui_check() -> Report:
    report = Report()
    for group in comfyui_pools():
        report.problems.extend(group.problems.values())
        if not group.workflows and not group.problems:
            folder = group.workflows_dir
            report.problems.append(f"The {group.alias} backend has no workflows in {folder}.")
        for server in group.pool.servers:
            if not group.pool.probe(server):
                health = group.pool.health(server)
                why = health.error if health else "no answer"
                report.servers[server.label] = f"not reachable ({why})"
                report.problems.append(f"ComfyUI server {server.label} is not reachable ({why}).")
                continue
            report.servers[server.label] = "ok"
            for workflow in group.workflows:
                alias = f"{group.alias}:{workflow.slug}"
                try:
                    problems = group.pool.problems(server, workflow)
                except (ServerGone, ServerRefused) as e:
                    problems = [f"could not read the server's /object_info ({e})"]
                for problem in problems:
                    report.workflows.setdefault(alias, []).append(f"{server.label}: {problem}")
                    report.problems.append(f"{server.label}: {problem}")
                report.workflows.setdefault(alias, [])
    return report


def comfyui_check_and_log() -> None:
    """Log every problem (a worker's start-up, in a background thread)."""
    try:
        report = comfyui_check()
    except Exception:
        logger.exception("the ComfyUI start-up check failed")
        return
    for problem in report.problems:
        logger.error("ComfyUI: %s", problem)
    for alias, problems in report.workflows.items():
        if not problems:
            logger.info("ComfyUI workflow %s fits every reachable server", alias)
