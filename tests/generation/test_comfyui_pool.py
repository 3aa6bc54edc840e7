"""The ComfyUI pool's check of a workflow against a server's ``/object_info``: done and shared
once per ``/object_info`` a process fetches, not on every prompt."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.cache import cache

from apps.generation.backends.comfyui import pool as pool_module
from apps.generation.backends.comfyui.pool import ServerPool
from apps.generation.backends.comfyui.workflows import workflow_load

WORKFLOWS = Path(__file__).resolve().parents[2] / "platform" / "comfyui"
OBJECT_INFO = json.loads(Path(__file__).with_name("comfyui_object_info.json").read_text())


class _Server:
    """A server that only answers ``/object_info``, counting the asks."""

    url = "http://comfy.test:8188"
    label = "comfy.test:8188"

    def __init__(self, info):
        self.info = info
        self.asked = 0

    def object_info(self):
        self.asked += 1
        return self.info


def _counting(monkeypatch):
    calls = {"checks": 0, "writes": 0}
    check, cache_set = pool_module.object_info_problems, cache.set

    def counted_check(*args, **kwargs):
        calls["checks"] += 1
        return check(*args, **kwargs)

    def counted_set(*args, **kwargs):
        calls["writes"] += 1
        return cache_set(*args, **kwargs)

    monkeypatch.setattr(pool_module, "object_info_problems", counted_check)
    monkeypatch.setattr(pool_module.cache, "set", counted_set)
    return calls


def test_a_workflow_is_checked_and_shared_once_while_the_servers_answer_is_fresh(monkeypatch):
    workflow = workflow_load(WORKFLOWS / "sdxl-turbo.json")
    server = _Server(OBJECT_INFO)
    pool = ServerPool([server], object_info_ttl_s=600)
    calls = _counting(monkeypatch)

    answers = [pool.problems(server, workflow) for _ in range(5)]

    assert answers == [[]] * 5
    assert server.asked == 1
    assert calls == {"checks": 1, "writes": 1}
    assert pool.known_problems(server, workflow) == []


def test_a_stale_answer_is_checked_again_against_the_servers_new_object_info(monkeypatch):
    workflow = workflow_load(WORKFLOWS / "sdxl-turbo.json")
    server = _Server(OBJECT_INFO)
    pool = ServerPool([server], object_info_ttl_s=600)
    calls = _counting(monkeypatch)
    assert pool.problems(server, workflow) == []

    # The operator removes a node class the workflow uses; once the answer is stale, it shows.
    missing = workflow.graph[next(iter(workflow.graph))]["class_type"]
    server.info = {k: v for k, v in OBJECT_INFO.items() if k != missing}
    later = pool_module.time.monotonic() + 601
    monkeypatch.setattr(pool_module.time, "monotonic", lambda: later)
    problems = pool.problems(server, workflow)

    assert problems and missing in problems[0]
    assert server.asked == 2
    assert calls == {"checks": 2, "writes": 2}
    assert pool.known_problems(server, workflow) == problems
