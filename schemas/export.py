"""JSON Schema export for producers: one file per event type plus the whole union."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.events import EVENT_ADAPTER, EVENT_TYPES, event_model


def export_json_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    union = directory / "event.schema.json"
    union.write_text(json.dumps(EVENT_ADAPTER.json_schema(), indent=2) + "\n")
    written.append(union)
    for event_type in EVENT_TYPES:
        path = directory / f"{event_type}.schema.json"
        schema = event_model(event_type).model_json_schema()
        schema["$id"] = f"cxpulse:{event_type}:v1"
        path.write_text(json.dumps(schema, indent=2) + "\n")
        written.append(path)
    return written
