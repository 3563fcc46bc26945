"""Reloading the rituals file when it changes, without a restart.

``RitualsFileWatcher`` polls the file every ``interval`` seconds from a daemon thread (the wait is
an ``Event.wait``, so stopping is immediate and nothing spins). Each poll reads the file's
``(mtime_ns, size, sha256)``; the content hash decides: a ``touch`` or a save without changes
does not reload, an edit that keeps the size and the mtime (coarse clocks) still does.

On a change the file is loaded with ``load_rituals_file``:

* valid -> ``on_change(config)``;
* invalid -> each problem is logged as a warning, ``on_invalid(error)`` is called, and the
  previous config stays in force; the same broken content is reported once, not every poll;
* deleted -> reported the same way (a ``ConfigError`` whose problem says the file is gone); the
  previous config stays, and the file is loaded again when it comes back.

A callback that raises is logged and does not stop the watcher.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from rituals.config import ConfigError, ConfigProblem, RitualsConfig, load_rituals_file

__all__ = ["CheckOutcome", "FileState", "RitualsFileWatcher"]

log = logging.getLogger(__name__)

CheckOutcome = Literal["unchanged", "reloaded", "invalid", "missing"]
DEFAULT_INTERVAL = 5.0
T = TypeVar("T")


@dataclass(frozen=True)
class FileState:
    """What a poll saw; ``digest`` None means the file is missing."""

    mtime_ns: int
    size: int
    digest: str | None

    @classmethod
    def of(cls, path: Path) -> FileState:
        try:
            stat = path.stat()
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return cls(0, 0, None)
        except OSError as exc:
            # Unreadable (permissions, a directory...): a state of its own, so it is reported once
            # and loading it again says why.
            return cls(0, 0, f"unreadable: {exc.strerror or exc}")
        return cls(stat.st_mtime_ns, len(data), hashlib.sha256(data).hexdigest())

    @property
    def missing(self) -> bool:
        return self.digest is None


class RitualsFileWatcher:
    """Watches one rituals file; see the module docstring for what happens on a change."""

    def __init__(
        self,
        path: Path,
        *,
        on_change: Callable[[RitualsConfig], None],
        on_invalid: Callable[[ConfigError], None] | None = None,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be more than 0 seconds")
        self.path = Path(path)
        self.interval = interval
        self._on_change = on_change
        self._on_invalid = on_invalid
        self._lock = threading.RLock()  # held across a whole poll, callbacks included
        self._seen: FileState | None = None
        self._config: RitualsConfig | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> RitualsConfig | None:
        """The last valid config this watcher loaded (None before the first)."""
        return self._config

    def load(self) -> RitualsConfig:
        """Load the file now and make it the baseline; ConfigError when it is unusable (start-up).

        Call it instead of ``load_rituals_file`` at start-up, so no edit made between loading and
        watching is missed. Without it, ``start`` takes the file as it is then as the baseline.
        """
        with self._lock:
            self._seen = FileState.of(self.path)  # before loading: a later edit is then seen
            config = load_rituals_file(self.path)
            self._config = config
            return config

    def check_now(self) -> CheckOutcome:
        """One poll, in the caller's thread; what it found. Callbacks run in this thread too.

        Polls never overlap, so callbacks see changes one at a time and in order.
        """
        with self._lock:
            state = FileState.of(self.path)
            previous, self._seen = self._seen, state
            if previous is not None and previous.digest == state.digest:
                return "unchanged"
            if state.missing:
                self._report(ConfigError([ConfigProblem(str(self.path), 1, "(file)", "the file is gone")]))
                return "missing"
            try:
                config = load_rituals_file(self.path)
            except ConfigError as error:
                self._report(error)
                return "invalid"
            self._config = config
            log.info("rituals file %s reloaded: %d rituals", self.path, len(config.rituals))
            _call_safely(self._on_change, config)
            return "reloaded"

    def start(self) -> RitualsFileWatcher:
        """Start polling in a daemon thread (idempotent)."""
        with self._lock:
            if self._thread is not None:
                return self
            if self._seen is None:
                self._seen = FileState.of(self.path)
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="rituals-file-watcher", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop polling and wait for the thread (a poll in progress finishes first)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __enter__(self) -> RitualsFileWatcher:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check_now()
            except Exception:
                log.exception("checking the rituals file %s failed", self.path)

    def _report(self, error: ConfigError) -> None:
        outcome = "keeping the rituals loaded before" if self._config is not None else "no rituals loaded yet"
        for problem in error.problems:
            log.warning("rituals file not reloaded, %s: %s", outcome, problem)
        if self._on_invalid is not None:
            _call_safely(self._on_invalid, error)


def _call_safely(callback: Callable[[T], None], value: T) -> None:
    try:
        callback(value)
    except Exception:
        log.exception("the rituals file watcher's callback failed")
