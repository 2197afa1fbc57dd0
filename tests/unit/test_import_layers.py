"""Imports never run upward: the import-linter contracts in pyproject.toml hold.

The second test builds a throw-away tree with the same package names and one upward
import, and checks the same contracts reject it, so a green run means something.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")

_MODULES = [
    "schemas",
    "sinks",
    "api",
    "infra",
    "bench",
    "flows",
    "flows.config",
    "flows.pipeline",
    "flows.core",
    *(f"flows.{c}" for c in ("ingest", "agents", "risk", "ops", "demand", "kb", "routing")),
]


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layer_contracts_hold():
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def _tree(tmp: Path, imports: dict[str, str]) -> Path:
    for mod in _MODULES:
        pkg = tmp.joinpath(*mod.split("."))
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / "__init__.py").write_text(imports.get(mod, ""))
    return tmp


def test_an_upward_import_breaks_a_contract(tmp_path: Path):
    assert _lint(_tree(tmp_path / "ok", {"api": "import schemas\n"})).returncode == 0
    for bad in (
        {"schemas": "import sinks\n"},  # the bottom layer reaches up
        {"sinks": "import flows\n"},  # siblings stay apart
        {"api": "import flows.core\n"},  # the API runs no dataflow code
        {"flows.core": "import flows.kb\n"},  # core knows no capability
        {"flows.kb": "import flows.demand\n"},  # capabilities stay apart
        {"flows.kb": "import flows.config\n"},  # ... and below their composition
    ):
        proc = _lint(_tree(tmp_path / str(len(bad)) / next(iter(bad)), bad))
        assert proc.returncode != 0, (bad, proc.stdout)
        assert "BROKEN" in proc.stdout
