"""A pool of ComfyUI servers: which answer, which fit a workflow, which is least busy.

What every process must agree on lives in the shared cache (Redis): whether a server answered
its last probe and when to try one that did not again, and which workflows a server cannot run
(found by the worker from the server's ``/object_info``). So a web process can tell a creator at
once that no server is reachable, and a server that died is skipped by every worker until its
retry time, without each process discovering it on its own. A probe is one short
``GET /system_stats``; choosing a server asks each reachable one for ``GET /queue`` and takes
the shortest queue (running + pending), so a busy or slow GPU gets fewer jobs.

``/object_info`` (megabytes on a server with many custom nodes) is fetched once per server per
worker process and kept for ``object_info_ttl_s``.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from apps.generation.backends.comfyui.client import ComfyServer, ServerGone, ServerRefused
from apps.generation.backends.comfyui.workflows import Workflow, object_info_problems

logger = logging.getLogger(__name__)


@dataclass
class Health:
    up: bool
    checked_at: float
    retry_at: float = 0.0
    error: str = ""


class ServerPool:
    def __init__(
        self,
        servers: list[ComfyServer],
        *,
        probe_ttl_s: float = 15.0,
        retry_after_s: float = 30.0,
        probe_timeout_s: float = 2.0,
        object_info_ttl_s: float = 600.0,
    ) -> None:
        self.servers = servers
        self.probe_ttl_s = probe_ttl_s
        self.retry_after_s = retry_after_s
        self.probe_timeout_s = probe_timeout_s
        self.object_info_ttl_s = object_info_ttl_s
        self._object_info: dict[str, tuple[float, dict[str, Any]]] = {}
        # (server URL, workflow hash): the problems found and the ``/object_info`` they came from.
        self._fits: dict[tuple[str, str], tuple[float, list[str]]] = {}

    @staticmethod
    def _key(server: ComfyServer, what: str) -> str:
        return f"comfyui:{what}:{hashlib.sha1(server.url.encode()).hexdigest()[:16]}"

    # --- health -------------------------------------------------------------------------------

    def health(self, server: ComfyServer) -> Health | None:
        raw = cache.get(self._key(server, "health"))
        return Health(**raw) if isinstance(raw, dict) else None

    def _remember(self, server: ComfyServer, health: Health) -> None:
        cache.set(self._key(server, "health"), health.__dict__, timeout=3600)

    def mark_down(self, server: ComfyServer, reason: str) -> None:
        """Skip ``server`` until its retry time (every process reads this)."""
        now = time.time()
        logger.warning("ComfyUI server %s stopped answering: %s", server.label, reason)
        retry_at = now + self.retry_after_s
        self._remember(server, Health(up=False, checked_at=now, retry_at=retry_at, error=reason))

    def mark_up(self, server: ComfyServer) -> None:
        before = self.health(server)
        if before is not None and not before.up:
            logger.warning("ComfyUI server %s answers again", server.label)
        self._remember(server, Health(up=True, checked_at=time.time()))

    def probe(self, server: ComfyServer) -> bool:
        try:
            server.system_stats(timeout=self.probe_timeout_s)
        except (ServerGone, ServerRefused) as e:
            self.mark_down(server, str(e))
            return False
        self.mark_up(server)
        return True

    def _due(self, server: ComfyServer, now: float) -> bool:
        health = self.health(server)
        if health is None:
            return True
        if health.up:
            return now - health.checked_at > self.probe_ttl_s
        return now >= health.retry_at

    def reachable(self) -> list[ComfyServer]:
        """Servers that answered lately; ones due a check are probed now, in parallel."""
        now = time.time()
        due = [s for s in self.servers if self._due(s, now)]
        if due:
            with ThreadPoolExecutor(max_workers=min(8, len(due))) as pool:
                list(pool.map(self.probe, due))
        return [s for s in self.servers if (h := self.health(s)) is not None and h.up]

    # --- fitting a workflow -------------------------------------------------------------------

    def _object_info_entry(self, server: ComfyServer) -> tuple[float, dict[str, Any]]:
        """(when it was fetched, ``/object_info``), fetched again once older than the TTL."""
        cached = self._object_info.get(server.url)
        if cached and time.monotonic() - cached[0] < self.object_info_ttl_s:
            return cached
        info = server.object_info()
        entry = (time.monotonic(), info)
        self._object_info[server.url] = entry
        return entry

    def object_info(self, server: ComfyServer) -> dict[str, Any]:
        return self._object_info_entry(server)[1]

    def problems(self, server: ComfyServer, workflow: Workflow) -> list[str]:
        """Why ``workflow`` cannot run on ``server`` (checked against its ``/object_info``);
        the answer is shared with every process for ``object_info_ttl_s``.

        Checked and shared once per ``/object_info`` this process fetches: while that is fresh,
        the answer is this process's own (the shared one, written no earlier, outlives it)."""
        fetched_at, info = self._object_info_entry(server)
        key = (server.url, workflow.sha256)
        known = self._fits.get(key)
        if known is not None and known[0] == fetched_at:
            return list(known[1])
        problems = object_info_problems(workflow, info)
        cache.set(
            self._key(server, f"fit:{workflow.sha256[:16]}"),
            problems,
            timeout=int(self.object_info_ttl_s),
        )
        self._fits[key] = (fetched_at, problems)
        return list(problems)

    def known_problems(self, server: ComfyServer, workflow: Workflow) -> list[str] | None:
        """What the last check found, without asking the server (None: not checked lately)."""
        return cache.get(self._key(server, f"fit:{workflow.sha256[:16]}"))

    # --- choosing -----------------------------------------------------------------------------

    def choose(
        self, workflow: Workflow, *, avoid: set[str] = frozenset()
    ) -> tuple[ComfyServer | None, str]:
        """The least busy reachable server that fits ``workflow``, or (None, why not)."""
        candidates = [s for s in self.reachable() if s.url not in avoid]
        if not candidates:
            return None, "unreachable"
        busy: list[tuple[int, float, ComfyServer]] = []
        misfits: list[str] = []
        for server in candidates:
            try:
                problems = self.problems(server, workflow)
                if problems:
                    misfits.extend(problems)
                    continue
                length = server.queue_length(timeout=self.probe_timeout_s)
                busy.append((length, random.random(), server))
            except ServerGone as e:
                self.mark_down(server, str(e))
            except ServerRefused as e:
                self.mark_down(server, f"HTTP {e.status}")
        if busy:
            return min(busy, key=lambda b: b[:2])[2], ""
        if misfits:
            return None, "misfit:" + misfits[0]
        return None, "unreachable"
