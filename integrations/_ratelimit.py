"""A client-side sliding-window limiter, so Drumbeat stays inside the CRM's allowance."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    """At most `max_calls` acquisitions in any window of `period` seconds (thread-safe).

    Callers wait in turn: the lock is held while sleeping so the order stays first come, first served.
    """

    def __init__(
        self,
        max_calls: int,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_calls < 1 or period <= 0:
            raise ValueError("a limiter needs max_calls >= 1 and period > 0")
        self.max_calls = max_calls
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one slot, waiting if needed; returns the seconds waited."""
        waited = 0.0
        with self._lock:
            while True:
                now = self._clock()
                while self._calls and self._calls[0] <= now - self.period:
                    self._calls.popleft()
                if len(self._calls) < self.max_calls:
                    self._calls.append(now)
                    return waited
                delay = self._calls[0] + self.period - now
                self._sleep(delay)
                waited += delay

    def penalize(self, seconds: float) -> None:
        """After a 429, treat the window as full for `seconds`, so the next callers back off too."""
        with self._lock:
            until = self._clock() + seconds - self.period
            self._calls.clear()
            self._calls.extend([until] * self.max_calls)
