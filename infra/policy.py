"""Loading the SLA policy from configuration (defaults when no file is given)."""

from __future__ import annotations

import json
from pathlib import Path

from flows.risk.sla import SlaPolicy


def load_sla_policy(path: Path | None) -> SlaPolicy:
    """``{"hours": {"urgent": 1, ...}, "tenants": {"acme": {"urgent": 2}}}``; both optional.

    Missing priorities in ``hours`` keep their defaults; a tenant entry overrides only the
    priorities it names. Errors name the file and the problem.
    """
    if path is None:
        return SlaPolicy()
    try:
        doc = json.loads(path.read_text())
        defaults = SlaPolicy().hours
        return SlaPolicy(
            hours={**defaults, **doc.get("hours", {})},
            tenant_overrides=doc.get("tenants", {}),
        )
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"SLA policy {path}: {exc}") from exc
