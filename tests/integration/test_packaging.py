"""The installed product claims one top-level name, ``cxpulse``, and runs from it.

Builds the real wheel (setup.py's namespacing build step), unpacks it and imports every
module from the unpacked copy in a fresh interpreter: a module that still imports a bare
``flows``/``schemas``/... would load the source tree's copy and is reported.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _setup_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cxpulse_setup", ROOT / "setup.py")
    assert spec
    assert spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # the setup() call is guarded by __main__
    return mod


def test_namespaced_rewrites_only_absolute_product_imports():
    src = (
        '"""from flows.core import x (a docstring stays)."""\n'
        "from flows.core.io import FlowIO\n"
        "import schemas.events as ev\n"
        "from sinks import metrics\n"
        "from flowsy import z\n"
        "from . import sibling\n"
        "def f():\n"
        "    from infra.settings import S  # a local import\n"
        "    return 'from api import x'\n"
    )
    out = _setup_module().namespaced(src)
    assert out.splitlines() == [
        '"""from flows.core import x (a docstring stays)."""',
        "from cxpulse.flows.core.io import FlowIO",
        "import cxpulse.schemas.events as ev",
        "from cxpulse.sinks import metrics",
        "from flowsy import z",
        "from . import sibling",
        "def f():",
        "    from cxpulse.infra.settings import S  # a local import",
        "    return 'from api import x'",
    ]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("src")  # a copy: the build leaves build/ in its tree
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in ("schemas", "flows", "sinks", "api", "infra"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (whl,) = out.glob("cxpulse-*.whl")
    return whl


def test_wheel_installs_one_top_level_name(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        entry = next(n for n in names if n.endswith("entry_points.txt"))
        scripts = z.read(entry).decode()
    dist_info = wheel.name.split("-py3")[0] + ".dist-info"
    assert {n.split("/")[0] for n in names} == {"cxpulse", dist_info}
    assert "cxpulse = cxpulse.infra.cli:main" in scripts
    for data in (
        "cxpulse/schemas/risk_model.json",
        "cxpulse/api/static/index.html",
        "cxpulse/infra/clickhouse/001_foundation.sql",
        "cxpulse/infra/kafka/pom.xml",
    ):
        assert data in names, f"{data} is not packaged"


def test_every_module_imports_from_the_namespace(wheel: Path, tmp_path: Path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    modules = sorted(
        ".".join(p.relative_to(site).with_suffix("").parts).removesuffix(".__init__")
        for p in (site / "cxpulse").rglob("*.py")
    )
    probe = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(site)!r})\n"
        f"for m in {modules!r}:\n"
        "    f = importlib.import_module(m).__file__\n"
        f"    assert f.startswith({str(site)!r}), (m, f)\n"
        "bare = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('schemas', 'flows', 'sinks', 'api', 'infra'))\n"
        "assert not bare, bare\n"
        "from cxpulse.infra.cli import main\n"
        "assert main.__module__ == 'cxpulse.infra.cli'\n"
        "print(len(sys.modules))\n"
    )
    # -I: no current directory, no PYTHONPATH; only the unpacked wheel names cxpulse
    proc = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
