"""Pacing CRM calls by the server's own word, so Drumbeat stays inside its share of the allowance.

HubSpot's 10-second allowance belongs to the whole portal: every non-search answer says how much of
it is left (`X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds`) and how much of the day's
(`-Daily/-Daily-Remaining`). From those the pacer works out what the other integrations use, and
lets Drumbeat (all its replicas together, through one `CallWindow`) use at most `share` of what they
leave. Background calls (syncs) leave a reserve for people's writes and pause under the daily floor.
Searches answer without headers: they keep their own per-second window, paced from the last headers
seen and from 429s (halved on each, recovering a little with each success).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, Protocol

from integrations.base import ApiBudget, CrmPaused, in_background

CALLS = "calls"
SEARCH = "search"
DEFAULT_INTERVAL = 10.0  # seconds, HubSpot's window until an answer says otherwise
SEARCH_PERIOD = 1.0
# A call is counted over a window this much longer than HubSpot's: requests reach HubSpot a little
# after their slot is taken, in another order across threads and replicas (measured: 82 in a
# 5-second window for 80 slots without it, benchmarks/sync.py's replicas).
WINDOW_MARGIN = 1.05
RESERVE = 0.1  # of the allowed calls, kept for people's writes while a sync runs (at least one)
DAILY_RECHECK = 900.0  # seconds: a paused sync tries again after this, to see whether the day reset
MIN_FACTOR = 0.1
RECOVERY = 0.02  # added to the factor per successful call after a 429 halved it


class Taken(NamedTuple):
    wait: float
    """0 when the call may go now; else the seconds until a slot frees (nothing was recorded)."""
    in_window: int
    """Calls in the window, this one included when taken."""


class CallWindow(Protocol):
    """Drumbeat's own calls over the last `period` seconds, per bucket, across everything sharing it."""

    def take(self, bucket: str, limit: int, period: float) -> Taken: ...


class LocalWindow:
    """A sliding window in this process (thread-safe): enough for one replica."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, bucket: str, limit: int, period: float) -> Taken:
        with self._lock:
            now = self._clock()
            calls = self._calls.setdefault(bucket, deque())
            while calls and calls[0] <= now - period:
                calls.popleft()
            taken = take_from(calls, limit, period, now)
            if taken.wait == 0:
                calls.append(now)
            return taken


def take_from(recent: Sequence[float], limit: int, period: float, now: float) -> Taken:
    """The rule every `CallWindow` applies; `recent`: the calls still in the window, oldest first."""
    count = len(recent)
    if count < limit:
        return Taken(0.0, count + 1)
    # When the limit shrank, more than one call must leave before this one may go.
    leaves = recent[count - limit] + period - now
    return Taken(max(leaves, 0.001), count)


class Pacer:
    """Decides when each CRM call may go. Thread-safe; `clock`/`sleep` are injected for tests."""

    def __init__(
        self,
        *,
        allowance: int,
        share: float,
        search_per_second: int,
        daily_floor: float = 0.1,
        window: CallWindow | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if allowance < 1 or not 0 < share <= 1 or search_per_second < 1:
            raise ValueError("a pacer needs allowance >= 1, 0 < share <= 1 and search_per_second >= 1")
        self._allowance = allowance
        self._share = share
        self._search_max = float(search_per_second)
        self._search_limit = float(search_per_second)
        self._daily_floor = daily_floor
        self._window = window or LocalWindow(clock)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._interval = DEFAULT_INTERVAL
        self._portal_max: int | None = None
        self._portal_remaining: int | None = None
        self._others: int | None = None
        self._factor = 1.0
        self._blocked_until = 0.0
        self._daily: int | None = None
        self._daily_remaining: int | None = None
        self._daily_seen_at = 0.0
        self._rate_limited = 0

    def acquire(self, *, search: bool = False) -> int:
        """Wait until a call may go; returns Drumbeat's calls in the window, this one included.
        Raises CrmPaused for background work while the daily allowance is under its floor."""
        background = in_background()
        while True:
            with self._lock:
                now = self._clock()
                if background and self._paused(now):
                    raise CrmPaused(f"HubSpot: {self._budget(now).pause_reason()}.")
                blocked = self._blocked_until - now
                limit = self._limit(background=background)
                interval = self._interval * WINDOW_MARGIN
                search_limit = max(1, math.floor(self._search_limit))
            if blocked > 0:
                self._sleep(blocked)
                continue
            if search:
                taken = self._window.take(SEARCH, search_limit, SEARCH_PERIOD)
                if taken.wait > 0:
                    self._sleep(taken.wait)
                    continue
            # The search slot, once taken, is kept while the call waits for the window.
            while (taken := self._window.take(CALLS, limit, interval)).wait > 0:
                self._sleep(taken.wait)
                with self._lock:
                    limit = self._limit(background=background)
                    interval = self._interval * WINDOW_MARGIN
            return taken.in_window

    def observe(
        self, headers: Mapping[str, str] | None, *, in_window: int, search: bool = False, ok: bool = True
    ) -> None:
        """An answer came back (`in_window`: what `acquire` returned for it); read its headers.
        `ok`: not a 429 (after one, `rate_limited` backs off instead of recovering)."""
        with self._lock:
            if ok and search:
                self._search_limit = min(self._search_max, self._search_limit + RECOVERY * self._search_max)
            elif ok:
                self._factor = min(1.0, self._factor + RECOVERY)
            if not headers:
                return  # a search (no headers): pace from what the last headers said
            limit = _int(headers, "X-HubSpot-RateLimit-Max")
            remaining = _int(headers, "X-HubSpot-RateLimit-Remaining")
            interval_ms = _int(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
            # A 429 says nothing new about the others' share (Remaining is 0): its backoff rules the wait.
            if ok and limit is not None and limit > 0 and remaining is not None:
                self._portal_max, self._portal_remaining = limit, remaining
                # The portal's use the server counted that is not Drumbeat's own: other integrations.
                self._others = max(0, limit - remaining - in_window)
            if interval_ms is not None and interval_ms > 0:
                self._interval = interval_ms / 1000
            daily = _int(headers, "X-HubSpot-RateLimit-Daily")
            daily_remaining = _int(headers, "X-HubSpot-RateLimit-Daily-Remaining")
            if daily is not None and daily > 0 and daily_remaining is not None:
                self._daily, self._daily_remaining = daily, daily_remaining
                self._daily_seen_at = self._clock()

    def rate_limited(self, *, search: bool, delay: float) -> None:
        """A 429: back off multiplicatively, and hold every caller of this process for `delay`."""
        with self._lock:
            self._rate_limited += 1
            if search:
                self._search_limit = max(1.0, self._search_limit / 2)
            else:
                self._factor = max(MIN_FACTOR, self._factor / 2)
            self._blocked_until = max(self._blocked_until, self._clock() + delay)

    def budget(self) -> ApiBudget:
        with self._lock:
            return self._budget(self._clock())

    def _budget(self, now: float) -> ApiBudget:
        return ApiBudget(
            allowed_per_window=self._limit(background=False),
            window_seconds=self._interval,
            portal_max=self._portal_max,
            portal_remaining=self._portal_remaining,
            daily=self._daily,
            daily_remaining=self._daily_remaining,
            daily_floor=self._daily_floor,
            background_paused=self._paused(now),
            rate_limited=self._rate_limited,
        )

    def _limit(self, *, background: bool) -> int:
        # The configured allowance is a ceiling; HubSpot's own Max, less what the others use, lowers it.
        portal = float(self._allowance)
        if self._portal_max is not None:
            portal = min(portal, self._portal_max - (self._others or 0))
        cap = self._share * max(portal, 0.0) * self._factor
        if background:
            cap -= max(1.0, RESERVE * cap)
        return max(1, math.floor(cap))

    def _paused(self, now: float) -> bool:
        if self._daily is None or self._daily_remaining is None:
            return False
        fresh = now - self._daily_seen_at < DAILY_RECHECK
        return fresh and self._daily_remaining < self._daily_floor * self._daily


def _int(headers: Mapping[str, str], name: str) -> int | None:
    """A header as a number; `headers` has lower-case names (see hubspot.RATE_HEADERS)."""
    value = headers.get(name.lower())
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None
