"""Child processes that run untrusted decoders under CPU-time and memory limits.

A decoder call cannot be cancelled from a thread, and a crafted file (a JPEG with thousands of
scans, a pixel bomb) can keep one busy for many seconds or grow it by hundreds of MiB. So no
untrusted byte is decoded in the web process: ``run`` hands the bytes to a child process of a
small pool, which

- gets ``cpu_s`` of CPU time for each task: a profiling timer (``ITIMER_PROF``, the CPU time of
  all its threads) whose signal is left to its default action, so the kernel ends the process
  at the limit even in the middle of one long C call (a decoder does most of its work in one);
  ``RLIMIT_CPU`` (SIGXCPU) is the backstop a second later;
- runs under ``RLIMIT_AS`` (its size at start plus ``memory_mb``), so an allocation past the
  budget fails (``MemoryError``) inside the child, never in the web process;
- answers with the result and what the task cost (CPU seconds, peak resident MiB).

A child that hits a limit, dies, or runs past the wall-clock limit is killed and replaced; the
others keep working, so one bad file fails only its own request. Children are forked from a
``forkserver`` that has the decoders imported (never from the threaded web process itself), and
retire after ``MAX_TASKS`` tasks so nothing accumulates.

This module has no Django: the children import only it and ``apps.media.cleaning``.
"""

from __future__ import annotations

import importlib
import math
import multiprocessing
import os
import resource
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

# What the forkserver imports once, so each child starts in milliseconds with the decoders loaded.
PRELOAD = ["apps.media.cleaning"]
MAX_TASKS = 50


@dataclass(frozen=True)
class Cost:
    cpu_s: float
    peak_mib: float  # the child's peak resident memory during the task, above its start


class LimitExceeded(Exception):
    """The task was stopped by a limit (CPU, memory or wall clock), or its process died."""

    def __init__(self, what: str, cost: Cost | None = None) -> None:
        super().__init__(what)
        self.what = what  # "cpu", "memory", "time" or "crashed"
        self.cost = cost


class Busy(Exception):
    """No child became free within the wait allowed."""


class TaskError(Exception):
    """The task raised: ``module``, ``name`` and ``args`` of the child's exception."""

    def __init__(self, module: str, name: str, args: tuple, cost: Cost) -> None:
        super().__init__(f"{module}.{name}{args!r}")
        self.module, self.name, self.error_args, self.cost = module, name, args, cost


# --- the child -----------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _cpu_now() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _child_main(conn: Connection, memory_mb: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGPROF, signal.SIG_DFL)  # the timer's signal ends the process
    budget = (_status_kib("VmSize") * 1024) + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (budget, budget))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        target, data, kwargs, cpu_s = task
        fn, failed = None, None
        try:  # a module not preloaded is imported outside the task's CPU time and memory
            module, _, name = target.partition(":")
            fn = getattr(importlib.import_module(module), name)
        except Exception as e:
            failed = e
        start_cpu = _cpu_now()
        # RLIMIT_CPU counts whole seconds of the process's total: the backstop when a C call
        # holds on past the timer. Only the soft limit moves (raising a hard limit needs
        # privileges); reaching it sends SIGXCPU, whose default action ends the process.
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = math.ceil(start_cpu + cpu_s) + 1
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak resident size (VmHWM) to now
        except OSError:
            pass
        start_rss = _status_kib("VmRSS")
        signal.setitimer(signal.ITIMER_PROF, cpu_s)
        try:
            if failed is not None:
                raise failed
            outcome = ("ok", fn(data, **kwargs))
        except MemoryError:
            outcome = ("limit", "memory")
        except Exception as e:  # the caller decides what each kind means
            outcome = ("error", (type(e).__module__, type(e).__qualname__, e.args))
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        cost = Cost(
            cpu_s=round(_cpu_now() - start_cpu, 3),
            peak_mib=round(max(0, _status_kib("VmHWM") - start_rss) / 1024, 1),
        )
        try:
            conn.send((outcome, cost))
        except Exception:  # an unpicklable result: report it rather than hang the parent
            conn.send((("error", ("builtins", "ValueError", ("unsendable result",))), cost))
        if outcome[0] == "limit":
            return  # a process that hit a limit is not trusted with more work


# --- the parent ----------------------------------------------------------------------------


class _Child:
    def __init__(self, ctx, memory_mb: int) -> None:
        parent, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_child_main, args=(child, memory_mb), daemon=True, name="untrusted-decoder"
        )
        self.process.start()
        child.close()
        self.conn = parent
        self.tasks = 0

    def kill(self) -> None:
        try:
            self.process.kill()
            self.process.join(timeout=5)
        except Exception:
            pass
        self.conn.close()

    def retire(self) -> None:
        try:
            self.conn.send(None)
            self.process.join(timeout=2)
        except Exception:
            pass
        if self.process.is_alive():
            self.kill()
        else:
            self.conn.close()


class Pool:
    """At most ``size`` children; a task waits for a free one (up to ``wait_s``)."""

    def __init__(self, *, size: int, memory_mb: int) -> None:
        self.size = size
        self.memory_mb = memory_mb
        self._idle: list[_Child] = []
        self._count = 0
        self._cond = threading.Condition()
        self._ctx = None
        self._pid = os.getpid()

    def _context(self):
        if self._ctx is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            self._ctx = ctx
        return self._ctx

    def _acquire(self, wait_s: float) -> _Child:
        deadline = time.monotonic() + wait_s
        with self._cond:
            while True:
                while self._idle:
                    child = self._idle.pop()
                    if child.process.is_alive():
                        return child
                    self._count -= 1
                    child.kill()
                if self._count < self.size:
                    self._count += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Busy()
                self._cond.wait(left)
        try:
            return _Child(self._context(), self.memory_mb)
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _release(self, child: _Child, *, healthy: bool) -> None:
        child.tasks += 1
        if healthy and child.tasks < MAX_TASKS:
            with self._cond:
                self._idle.append(child)
                self._cond.notify()
            return
        if healthy:
            child.retire()
        else:
            child.kill()
        with self._cond:
            self._count -= 1
            self._cond.notify()

    def close(self) -> None:
        """Stop the idle children (busy ones stop when their task ends)."""
        with self._cond:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self.size = 0
        for child in idle:
            child.retire()

    def run(
        self, target: str, data: bytes, *, cpu_s: float, wall_s: float, wait_s: float, **kwargs
    ) -> tuple[object, Cost]:
        """Run ``target`` ("module:function", called as ``function(data, **kwargs)``) in a child.

        Returns (result, cost). Raises ``LimitExceeded`` when a limit stopped it, ``Busy`` when
        no child was free in ``wait_s``, and ``TaskError`` when the function raised (its
        original class, module and args in ``.args``)."""
        if os.getpid() != self._pid:  # forked after use: start over with children of our own
            self.__init__(size=self.size, memory_mb=self.memory_mb)
        child = self._acquire(wait_s)
        healthy = False
        try:
            try:
                child.conn.send((target, data, kwargs, cpu_s))
                ready = child.conn.poll(wall_s)
            except (OSError, EOFError) as e:
                raise LimitExceeded("crashed") from e
            if not ready:
                raise LimitExceeded("time", Cost(cpu_s=cpu_s, peak_mib=0.0))
            try:
                outcome, cost = child.conn.recv()
            except (EOFError, OSError) as e:  # killed by RLIMIT_CPU or a crash in a decoder
                died = child.process.exitcode
                child.process.join(timeout=1)
                died = child.process.exitcode if died is None else died
                what = "cpu" if died in (-signal.SIGPROF, -signal.SIGXCPU) else "crashed"
                raise LimitExceeded(what, Cost(cpu_s=cpu_s, peak_mib=0.0)) from e
            kind, value = outcome
            if kind == "limit":
                raise LimitExceeded(value, cost)
            healthy = True
            if kind == "error":
                raise TaskError(*value, cost)
            return value, cost
        finally:
            self._release(child, healthy=healthy)
