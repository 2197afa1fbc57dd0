"""Build step that installs the product under one ``cxpulse`` namespace.

The source tree keeps the folders the product was designed with (``schemas``, ``flows``,
``sinks``, ``api``, ``infra``) and imports them by those names. Installed as such they
would claim five generic top-level names in site-packages, so the wheel maps each folder
to ``cxpulse.<folder>`` and rewrites the absolute imports of the built copies to match:
``from flows.core import x`` becomes ``from cxpulse.flows.core import x``. Only import
statements are rewritten (found by the tokenizer, not by text search), and the build
fails if a module still names a bare product package afterwards.

The development environment (``./dev.sh``) installs the project editable and also puts
the repository root on the path, so the same sources run unchanged under both names.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

NAMESPACE = "cxpulse"
FOLDERS = ("schemas", "flows", "sinks", "api", "infra")


def namespaced(source: str) -> str:
    """``source`` with every absolute import of a product folder moved under NAMESPACE.

    The syntax tree says which lines start an import statement (so docstrings and strings
    are never touched); ruff's formatting keeps the module name on that line.
    """
    lines = source.splitlines(keepends=True)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0):
            i = node.lineno - 1
            lines[i] = _IMPORT.sub(rf"\1{NAMESPACE}.\2", lines[i], count=1)
    return "".join(lines)


_IMPORT = re.compile(rf"^(\s*(?:from|import)\s+)((?:{'|'.join(FOLDERS)})(?:\.|\s|$))")


class NamespacedBuildPy(build_py):
    """Copies the modules as usual, then moves their product imports under NAMESPACE."""

    def run(self) -> None:
        super().run()
        root = Path(self.build_lib) / NAMESPACE
        left: list[str] = []
        for path in sorted(root.rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            new = namespaced(text)
            if new != text:
                path.write_text(new, encoding="utf-8")
            left += [f"{path}: {line}" for line in _bare_imports(new)]
        if left:
            raise SystemExit("imports left outside the namespace:\n" + "\n".join(left))


def _bare_imports(source: str) -> list[str]:
    """Modules ``source`` still imports by a bare product name."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.append(node.module)
    return [n for n in names if n.split(".")[0] in FOLDERS]


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import it
    setup(
        packages=[f"{NAMESPACE}.{p}" for p in find_packages(include=[f"{f}*" for f in FOLDERS])],
        package_dir={f"{NAMESPACE}.{f}": f for f in FOLDERS},
        package_data={
            f"{NAMESPACE}.api": ["static/*"],
            f"{NAMESPACE}.schemas": ["risk_model.json"],
            f"{NAMESPACE}.infra": [
                "clickhouse/*.sql",
                "demo_rules.json",
                "kafka/pom.xml",
                "kafka/*.properties",
                "kafka/*.xml",
            ],
        },
        cmdclass={"build_py": NamespacedBuildPy},
    )
