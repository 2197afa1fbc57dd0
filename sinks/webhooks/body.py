"""The JSON body a webhook POSTs: the :class:`~schemas.results.Alert` row itself.

Derived from the row type field by field, so a field added to ``Alert`` reaches
webhook receivers without a change here; instants are written as ISO-8601 UTC with
``+00:00``, as ``GET /v1/alerts`` serves them. An alert is delivered when it is raised,
so its lifecycle ``state`` (always ``open`` then) is not part of the body.
"""

from __future__ import annotations

from datetime import datetime

import pydantic_core

from schemas.results import Alert
from sinks.time_values import as_utc


def alert_body(alert: Alert) -> bytes:
    """The JSON body POSTed: the alert as ``GET /v1/alerts`` serves an item, without
    its lifecycle state."""
    doc = alert.model_dump(mode="json")
    for name, value in alert:
        if isinstance(value, datetime):
            doc[name] = as_utc(value).isoformat()
    return pydantic_core.to_json(doc)
