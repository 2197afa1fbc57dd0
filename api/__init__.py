"""The cxpulse HTTP API: tenant-scoped aggregates and alerts, health and readiness."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def _version() -> str:
    try:
        return version("cxpulse")
    except PackageNotFoundError:  # running from a source checkout without installing
        try:
            pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "0.0.0"


__version__ = _version()
