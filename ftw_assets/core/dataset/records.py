"""Per chip-year working records (JSON under OUTPUT_DIR/state/) that later assets build items from."""

from __future__ import annotations

import json
from pathlib import Path

from ftw_assets.core.atomic import write_text
from ftw_assets.core.dataset.layout import Layout

CALENDAR_RECORD = "calendar.json"
SELECTION_RECORD = "selection.json"
IMAGES_RECORD = "images.json"
REFINEMENT_RECORD = "refinement.json"


def write_record(layout: Layout, chip: str, year: int, name: str, data: dict) -> Path:
    path = layout.state_file(chip, year, name)
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def read_record(layout: Layout, chip: str, year: int, name: str) -> dict | None:
    path = layout.state_file(chip, year, name)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def all_records(layout: Layout, name: str) -> dict[str, dict]:
    """Every chip-year's record of one kind, keyed ``{chip}_{year}``."""
    out = {}
    if layout.state_dir.exists():
        for path in sorted(layout.state_dir.glob(f"*/{name}")):
            out[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
    return out
