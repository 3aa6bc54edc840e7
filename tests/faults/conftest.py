"""Fault tests: real processes, real servers started by the test, each bounded in time.

Every test here is marked ``fault`` (``-m "not fault"`` leaves them out) and runs under a time
limit, ``@pytest.mark.fault(timeout=...)`` or ``DEFAULT_TIMEOUT_S``: past it the test fails with
the stacks of its threads instead of holding up the whole run.
"""

from __future__ import annotations

import faulthandler
import signal
import sys

import pytest

DEFAULT_TIMEOUT_S = 90


def pytest_collection_modifyitems(items):
    for item in items:
        in_faults = "tests/faults/" in str(item.fspath).replace("\\", "/")
        if in_faults and item.get_closest_marker("fault") is None:
            item.add_marker(pytest.mark.fault)


class FaultTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _fault_time_limit(request):
    marker = request.node.get_closest_marker("fault")
    limit = (marker.kwargs.get("timeout") if marker else None) or DEFAULT_TIMEOUT_S

    def expired(signum, frame):
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        raise FaultTimeout(f"fault test ran past its {limit} s limit")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(int(limit))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
