"""Time-sortable 64-bit ids: milliseconds since the Vivid epoch, a node number and a sequence.

Ids sort by creation time, so keyset pagination needs the id alone, and they reveal no counter
that would let anyone guess how many rows exist or walk them.

Layout (63 bits, always positive): 41 bits of milliseconds (about 69 years), 10 bits of node
(random per process, so web processes and workers do not coordinate), 12 bits of sequence.
"""

import os
import secrets
import threading
import time

EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
_NODE_BITS = 10
_SEQ_BITS = 12
_SEQ_MASK = (1 << _SEQ_BITS) - 1


class _Generator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._node = secrets.randbelow(1 << _NODE_BITS)
        self._last_ms = -1
        self._seq = 0

    def next(self) -> int:
        with self._lock:
            if os.getpid() != self._pid:  # forked worker: pick a fresh node
                self._reset()
            now = int(time.time() * 1000) - EPOCH_MS
            if now < self._last_ms:  # clock stepped back: keep ids increasing
                now = self._last_ms
            if now == self._last_ms:
                self._seq = (self._seq + 1) & _SEQ_MASK
                if self._seq == 0:
                    while now <= self._last_ms:
                        now = int(time.time() * 1000) - EPOCH_MS
            else:
                self._seq = 0
            self._last_ms = now
            return (now << (_NODE_BITS + _SEQ_BITS)) | (self._node << _SEQ_BITS) | self._seq


_generator = _Generator()


def new_id() -> int:
    return _generator.next()


def id_for_time(ms_since_unix_epoch: int) -> int:
    """The smallest id that could have been made at that instant (for time-range queries)."""
    return (ms_since_unix_epoch - EPOCH_MS) << (_NODE_BITS + _SEQ_BITS)
