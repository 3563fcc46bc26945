"""Background threads that poll the database for work, and can be woken early when work arrives."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class PollingThreads:
    """`threads` daemon threads calling `run_once` every `poll_interval` seconds, or at once on `wake()`."""

    def __init__(
        self, run_once: Callable[[], object], *, name: str, threads: int, poll_interval: float
    ) -> None:
        self._run_once = run_once
        self._name = name
        self._wanted = threads
        self._poll = poll_interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        for n in range(self._wanted):
            thread = threading.Thread(target=self._loop, name=f"{self._name}-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._run_once()
            except Exception:  # keep polling: the work stays leased and is retried
                log.exception("%s failed; retrying", self._name)
            self._wake.wait(self._poll)
            self._wake.clear()
