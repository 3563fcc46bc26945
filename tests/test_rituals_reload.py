"""Reloading a changed rituals file: valid changes apply, broken ones are reported and ignored."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from rituals.config import ConfigError, RitualsConfig
from rituals.reload import RitualsFileWatcher

ONE = 'rituals:\n  - {id: prep, kind: one_on_one_prep, schedule: "0 8 * * tue"}\n'
TWO = ONE + '  - {id: adoption, kind: adoption_report, schedule: "0 16 * * fri", channel: "#managers"}\n'
BROKEN = 'rituals:\n  - {id: prep, kind: one_on_one_prep, schedule: "0 8 * * tue", enabeld: false}\n'


class Recorder:
    def __init__(self) -> None:
        self.changes: list[RitualsConfig] = []
        self.errors: list[ConfigError] = []
        self.event = threading.Event()

    def on_change(self, config: RitualsConfig) -> None:
        self.changes.append(config)
        self.event.set()

    def on_invalid(self, error: ConfigError) -> None:
        self.errors.append(error)
        self.event.set()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "rituals.yaml"
    path.write_text(ONE, encoding="utf-8")
    return path


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def watcher_for(path: Path, recorder: Recorder, interval: float = 5.0) -> RitualsFileWatcher:
    return RitualsFileWatcher(
        path, on_change=recorder.on_change, on_invalid=recorder.on_invalid, interval=interval
    )


def ids(config: RitualsConfig | None) -> list[str]:
    assert config is not None
    return [ritual.id for ritual in config.rituals]


def test_a_valid_change_is_picked_up(path: Path, recorder: Recorder) -> None:
    watcher = watcher_for(path, recorder)
    assert ids(watcher.load()) == ["prep"]
    assert watcher.check_now() == "unchanged"

    path.write_text(TWO, encoding="utf-8")

    assert watcher.check_now() == "reloaded"
    assert [ids(config) for config in recorder.changes] == [["prep", "adoption"]]
    assert ids(watcher.config) == ["prep", "adoption"]
    assert recorder.errors == []
    assert watcher.check_now() == "unchanged"
    assert len(recorder.changes) == 1


def test_touching_the_file_without_changing_it_does_not_reload(path: Path, recorder: Recorder) -> None:
    watcher = watcher_for(path, recorder)
    watcher.load()
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))

    assert watcher.check_now() == "unchanged"
    assert recorder.changes == []


def test_an_edit_that_keeps_size_and_mtime_is_still_seen(path: Path, recorder: Recorder) -> None:
    watcher = watcher_for(path, recorder)
    watcher.load()
    stat = path.stat()
    path.write_text(ONE.replace("tue", "wed"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # a coarse clock: same mtime

    assert watcher.check_now() == "reloaded"
    assert recorder.changes[0].rituals[0].schedule == "0 8 * * wed"


def test_an_invalid_change_is_reported_once_and_the_previous_config_kept(
    path: Path, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    watcher = watcher_for(path, recorder)
    before = watcher.load()
    path.write_text(BROKEN, encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="rituals.reload"):
        assert watcher.check_now() == "invalid"
        assert watcher.check_now() == "unchanged"  # the same broken content: no second report

    assert recorder.changes == []
    (error,) = recorder.errors
    problem = f"{path}:2: rituals[prep].enabeld: unknown key (did you mean enabled?)"
    assert [str(p) for p in error.problems] == [problem]
    assert watcher.config is before
    assert [r.getMessage() for r in caplog.records] == [
        f"rituals file not reloaded, keeping the rituals loaded before: {problem}"
    ]

    path.write_text(TWO, encoding="utf-8")  # fixed
    assert watcher.check_now() == "reloaded"
    assert ids(watcher.config) == ["prep", "adoption"]


def test_a_deleted_file_is_reported_and_the_previous_config_kept(path: Path, recorder: Recorder) -> None:
    watcher = watcher_for(path, recorder)
    before = watcher.load()
    path.unlink()

    assert watcher.check_now() == "missing"
    assert watcher.check_now() == "unchanged"
    (error,) = recorder.errors
    assert [str(p) for p in error.problems] == [f"{path}:1: (file): the file is gone"]
    assert watcher.config is before
    assert recorder.changes == []

    path.write_text(TWO, encoding="utf-8")  # back again
    assert watcher.check_now() == "reloaded"
    assert ids(recorder.changes[-1]) == ["prep", "adoption"]


def test_load_raises_for_a_broken_file_at_start_up(path: Path, recorder: Recorder) -> None:
    path.write_text(BROKEN, encoding="utf-8")
    watcher = watcher_for(path, recorder)

    with pytest.raises(ConfigError):
        watcher.load()
    assert watcher.config is None


def test_a_failing_callback_does_not_stop_the_watcher(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[RitualsConfig] = []

    def explode(config: RitualsConfig) -> None:
        calls.append(config)
        raise RuntimeError("boom")

    watcher = RitualsFileWatcher(path, on_change=explode)
    watcher.load()
    path.write_text(TWO, encoding="utf-8")
    with caplog.at_level(logging.ERROR, logger="rituals.reload"):
        assert watcher.check_now() == "reloaded"
    assert len(calls) == 1
    assert "callback failed" in caplog.text
    assert ids(watcher.config) == ["prep", "adoption"]


def test_the_thread_polls_and_stops(path: Path, recorder: Recorder) -> None:
    watcher = watcher_for(path, recorder, interval=0.02)
    watcher.load()
    with watcher:
        path.write_text(TWO, encoding="utf-8")
        assert recorder.event.wait(5), "the change was not picked up"
    assert ids(recorder.changes[0]) == ["prep", "adoption"]
    assert not any(t.name == "rituals-file-watcher" for t in threading.enumerate())


def test_start_without_load_takes_the_file_as_it_is_as_the_baseline(path: Path, recorder: Recorder) -> None:
    watcher = watcher_for(path, recorder, interval=60)
    watcher.start()
    try:
        assert watcher.check_now() == "unchanged"
        path.write_text(TWO, encoding="utf-8")
        assert watcher.check_now() == "reloaded"
    finally:
        watcher.stop()


def test_the_interval_must_be_positive(path: Path, recorder: Recorder) -> None:
    with pytest.raises(ValueError, match="interval"):
        watcher_for(path, recorder, interval=0)
