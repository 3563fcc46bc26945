"""Run the installed `drumbeat` command as a user would, in a subprocess with a controlled environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DRUMBEAT = str(Path(sys.executable).with_name("drumbeat"))
_INHERITED = ("PATH", "HOME", "SYSTEMROOT", "TMPDIR")


def run_drumbeat(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`drumbeat ARGS` with only the given settings in its environment (no developer .env leaks in).

    The language is English unless `env` sets LANG, LC_MESSAGES or LC_ALL: a developer's French
    locale does not turn the English tests French."""
    environment = {k: v for k, v in os.environ.items() if k in _INHERITED}
    environment.update({"COLUMNS": "120", "LOG_FORMAT": "text", "LANG": "C.UTF-8"})
    environment.update(env or {})
    return subprocess.run(
        [DRUMBEAT, *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
