"""The layer contracts in pyproject.toml hold, and they would catch an import that climbs up."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "rituals", "core", "integrations", "migrations")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy_tree(to: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, to / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")
    return to


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_tree_keeps_every_layer_contract(tmp_path: Path) -> None:
    result = _lint(_copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "arrow"),
    [
        ("core/clock.py", "import bot.settings", "core.clock -> bot.settings"),
        ("integrations/base.py", "import core.models", "integrations.base -> core.models"),
        ("core/deals/desk.py", "import handlers.blocks", "core.deals.desk -> handlers.blocks"),
        ("rituals/kinds.py", "import handlers.blocks", "rituals.kinds -> handlers.blocks"),
        ("core/people.py", "import slack_sdk", "core.people -> slack_sdk"),
        ("migrations/env.py", "import bot.db", "migrations.env -> bot.db"),
    ],
)
def test_a_planted_upward_import_breaks_the_contracts(
    tmp_path: Path, module: str, planted: str, arrow: str
) -> None:
    tree = _copy_tree(tmp_path)
    with (tree / module).open("a") as source:
        source.write(f"\n{planted}  # planted\n")
    result = _lint(tree)
    assert result.returncode == 1
    assert arrow in result.stdout
