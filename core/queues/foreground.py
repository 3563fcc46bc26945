"""Acknowledgements first: background work steps aside while Slack requests are being answered.

Python runs one thread at a time, so a thread working out a command delays every acknowledgement
that needs the interpreter meanwhile. Background loops call `yield_to_requests()` between items:
it waits (briefly, with a cap so the backlog still moves) until no request is in flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

MAX_WAIT = 0.25  # seconds a background item may be held back
_POLL = 0.002


class Foreground:
    def __init__(self) -> None:
        self._in_flight = 0
        self._lock = threading.Lock()

    @contextmanager
    def request(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def yield_to_requests(self, max_wait: float = MAX_WAIT) -> None:
        deadline = time.monotonic() + max_wait
        while self._in_flight > 0 and time.monotonic() < deadline:
            time.sleep(_POLL)
