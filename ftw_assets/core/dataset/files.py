"""The files in a dataset folder that say what the dataset is: its settings and the options file of
each optional stage, and reading one as the JSON object ftwd writes. Kept apart from the modules
that validate them (pydantic settings over the raster and scene stack) so that asking which stages
are on, or finding the folder, imports nothing heavy."""

from __future__ import annotations

import json
from pathlib import Path

from ftw_assets.core.errors import InputError

SETTINGS_FILE = "dataset.json"  # DatasetSettings
SELECTION_FILE = "selection.json"  # SelectionSettings: scene selection is on
IMAGES_FILE = "images.json"  # ImageSettings: images are on
REFINEMENT_FILE = "refinement.json"  # RefinementSettings: cloud refinement is on
DAGSTER_HOME = "dagster_home"  # the folder of the dataset's own Dagster instance


def read_settings_json(path: Path) -> dict:
    """A settings file ftwd wrote, as a dict; one that is not a JSON object (edited by hand, cut short)
    is refused with what to do."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as err:  # not JSON, or not UTF-8
        raise InputError(f"{path} is not valid JSON ({err}). ftwd writes this file: put back the one it wrote, "
                         "or run the command that made it again.") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} holds a JSON {type(data).__name__}, not the object of settings ftwd writes: put "
                         "back the one it wrote, or run the command that made it again.")
    return data
