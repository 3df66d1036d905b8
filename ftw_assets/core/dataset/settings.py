"""A dataset's parameters.

``dataset.json`` in the output folder holds the parameters a dataset was created with, so the
CLI, ``dagster asset materialize`` and the web UI all build the same dataset from the same
folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ftw_assets.core.atomic import write_text
from ftw_assets.core.errors import InputError
from ftw_assets.core.geometry.grid import SPLIT_TYPES, check_cell_km, parse_split_percents
from ftw_assets.core.raster.masks import MASK_TYPES, parse_mask_types

SETTINGS_FILE = "dataset.json"
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass
class DatasetSettings:
    """Parameters of one dataset (the ``ftwd create-dataset`` options)."""

    fields: str
    name: str = "ftw"
    year: int | None = None
    min_coverage: float = 0.01
    split_type: str = "random-uniform"
    split_percents: str = "80,10,10"
    mask_types: list[str] = field(default_factory=lambda: list(MASK_TYPES))
    presence_only: bool = False
    chip_size_px: int | None = None
    cell_km: int = 2
    seed: int = 42
    stac_host: str = "earthsearch"
    collection: str | None = None

    def check(self) -> "DatasetSettings":
        if not self.name or set(self.name) - NAME_CHARS:
            raise InputError(f"--name {self.name!r}: use letters, digits, '-' and '_' only (it names the catalog folder).")
        check_cell_km(int(self.cell_km))
        parse_split_percents(self.split_percents)
        if self.split_type not in SPLIT_TYPES:
            raise InputError(f"--split-type {self.split_type!r} is unknown; use one of {', '.join(SPLIT_TYPES)}.")
        self.mask_types = list(parse_mask_types(self.mask_types))
        if not 0 <= float(self.min_coverage) <= 100:
            raise InputError(f"--min-coverage {self.min_coverage} must be a percentage between 0 and 100.")
        return self

    def save(self, output_dir: Path) -> None:
        write_text(Path(output_dir) / SETTINGS_FILE, json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, output_dir: Path) -> "DatasetSettings":
        path = Path(output_dir) / SETTINGS_FILE
        if not path.exists():
            raise InputError(
                f"{path} not found: this folder holds no dataset yet. Create one with "
                "`ftwd create-dataset FIELDS OUTPUT_DIR`, or set FTW_OUTPUT_DIR to an existing dataset folder."
            )
        data = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known}).check()

    def differs_from(self, other: "DatasetSettings") -> list[str]:
        a, b = asdict(self), asdict(other)
        return [k for k in a if a[k] != b[k]]
