"""A dataset's parameters.

``dataset.json`` in the output folder holds the parameters a dataset was created with, so the
CLI, ``dagster asset materialize`` and the web UI all build the same dataset from the same
folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from ftw_assets.core.dataset.files import SETTINGS_FILE
from ftw_assets.core.errors import InputError
from ftw_assets.core.geometry.grid import SPLIT_TYPES, check_cell_km, check_chip_size, parse_split_percents
from ftw_assets.core.raster.masks import MASK_TYPES, parse_mask_types
from ftw_assets.core.scenes.sources import STAC_HOST_HELP
from ftw_assets.core.settings import Settings

NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
BASE_URL_SCHEMES = ("http", "https", "s3", "gs")
OPTIONAL_KEYS = ("base_url", "layer", "fields_sha256", "sensors", "min_class_share",
                 "excluded_classes")  # written only when set


class DatasetSettings(Settings):
    """Parameters of one dataset (the ``ftwd create-dataset`` options)."""

    FILE = SETTINGS_FILE

    fields: str = Field(description="The field-boundary file (any vector file with field polygons), stored absolute.")
    layer: str | None = Field(None, description="The layer of a multi-layer fields file (a GeoPackage's table). "
                                                "Default: its first layer.")
    fields_sha256: str | None = Field(None, description="The sha256 of the fields file when the dataset was made: a "
                                                        "changed file is refused, not mixed into the dataset.")
    name: str = Field("ftw", description="Dataset name; the catalog folder is NAME-chips.")
    year: int | None = Field(None, description="Season year. Default: the most common year of the fields' "
                                               "determination_datetime.")
    min_coverage: float = Field(0.01, description="Keep cells whose area is at least this percent covered by fields.")
    split_type: str = Field("random-uniform", description="random-uniform per chip, block3x3 per 3x3 block of cells, "
                                                          "or predefined from the fields' split column.")
    split_percents: str = Field("80,10,10", description="train,val,test percentages.")
    mask_types: list[str] = Field(default_factory=lambda: list(MASK_TYPES), description="Comma-separated masks to write.")
    presence_only: bool = Field(False, description="Labels mark present fields only: background becomes 3 (unknown).")
    chip_size_px: int | None = Field(None, description="Pad each chip to this many 10 m pixels around the cell centre "
                                                       "(default: the cell, 200 px for 2 km; at most 2048).")
    cell_km: int = Field(2, description="Grid cell size in km.")
    seed: int = Field(42, description="Seed for the random splits.")
    stac_host: str = Field("earthsearch", description=f"Scene source: {STAC_HOST_HELP}.")
    collection: str | None = Field(None, description="STAC collection (default sentinel-2-c1-l2a on EarthSearch, "
                                                     "sentinel-2-l2a on Planetary Computer).")
    base_url: str | None = Field(None, description="The URL the catalog folder (NAME-chips) will be published at "
                                                   "(http, https, s3 or gs): every STAC href is written absolute "
                                                   "under it. Default: relative hrefs.")
    sensors: list[str] | None = Field(None, description="Comma-separated sensors whose images each chip gets with "
                                                        "--download-images: s2 (always), s1, landsat, dem, "
                                                        "landcover, e.g. s2,s1,landsat,dem,landcover. Default: s2.")
    min_class_share: float | None = Field(None, description="Land-cover homogeneity filter (needs landcover in "
                                                            "--sensors): export only chips whose most common ESA "
                                                            "WorldCover class covers at least this percent.")
    excluded_classes: list[int] | None = Field(None, description="Land-cover homogeneity filter (needs landcover in "
                                                                 "--sensors): comma-separated WorldCover classes "
                                                                 "(e.g. 50,80) whose chips are not exported when "
                                                                 "the class is the chip's most common.")

    @field_validator("sensors", "excluded_classes", mode="before")
    @classmethod
    def _comma_list(cls, value):
        return [v for v in value.replace(" ", ",").split(",") if v] or [""] if isinstance(value, str) else value

    def validate_values(self) -> None:
        if not self.name or set(self.name) - NAME_CHARS:
            raise InputError(f"--name {self.name!r}: use letters, digits, '-' and '_' only (it names the catalog folder).")
        check_cell_km(int(self.cell_km))
        if self.chip_size_px is not None:
            check_chip_size(int(self.chip_size_px), int(self.cell_km))
        parse_split_percents(self.split_percents)
        if self.split_type not in SPLIT_TYPES:
            raise InputError(f"--split-type {self.split_type!r} is unknown; use one of {', '.join(SPLIT_TYPES)}.")
        self.mask_types = list(parse_mask_types(self.mask_types))
        if not 0 <= float(self.min_coverage) <= 100:
            raise InputError(f"--min-coverage {self.min_coverage} must be a percentage between 0 and 100.")
        if self.base_url is not None:
            self.base_url = check_base_url(self.base_url)
        if self.sensors is not None:
            self.sensors = check_sensors(self.sensors)
        self.check_homogeneity_filter()

    def check_homogeneity_filter(self) -> None:
        from ftw_assets.core.sensors.quality import WORLDCOVER_CLASSES

        if self.min_class_share is None and not self.excluded_classes:
            self.excluded_classes = None
            return
        if "landcover" not in self.extra_sensors():
            raise InputError("--min-class-share and --excluded-classes filter chips by their land cover: add landcover "
                             "to --sensors (e.g. --sensors s2,landcover), or leave them out.")
        if self.min_class_share is not None and not 0 < float(self.min_class_share) <= 100:
            raise InputError(f"--min-class-share {self.min_class_share} must be a percentage above 0 and at most 100.")
        known = {c.value for c in WORLDCOVER_CLASSES}
        unknown = sorted(set(self.excluded_classes or ()) - known)
        if unknown:
            raise InputError(f"--excluded-classes: {unknown} are not ESA WorldCover classes; use some of "
                             f"{', '.join(map(str, sorted(known)))}.")

    def extra_sensors(self) -> tuple[str, ...]:
        """The sensors beyond Sentinel-2, in the order given."""
        return tuple(s for s in self.sensors or () if s != "s2")

    def to_json(self) -> str:
        data = self.model_dump(mode="json")
        for key in OPTIONAL_KEYS:  # a dataset without one keeps the dataset.json it had, byte for byte
            if data[key] is None:
                del data[key]
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def differs_from(self, other: "DatasetSettings") -> list[str]:
        """The options that differ (the fields file's content is checked on its own: :mod:`.preflight`)."""
        return [name for name in super().differs_from(other) if name != "fields_sha256"]

    @classmethod
    def missing(cls, path: Path, **defaults) -> "DatasetSettings":
        raise InputError(
            f"{path} not found: this folder holds no dataset yet. Create one with "
            "`ftwd create-dataset FIELDS OUTPUT_DIR`, or set FTW_OUTPUT_DIR to an existing dataset folder."
        )


def check_sensors(values: list[str]) -> list[str] | None:
    """``--sensors`` as sensor names (aliases resolved, no repeats); None for Sentinel-2 alone, so a
    dataset without other sensors keeps the dataset.json it had. Sentinel-2 must be one of them: the
    other sensors are added beside its images (and its crop-calendar windows)."""
    from ftw_assets.core.sensors.config import sensors_from_option

    names = sensors_from_option(",".join(values))
    if "s2" not in names:
        raise InputError(f"--sensors {','.join(values)}: include s2, e.g. --sensors s2,{','.join(names)}; the other "
                         "sensors are added beside the Sentinel-2 images, which the dataset always has.")
    return None if names == ("s2",) else list(names)


def check_base_url(url: str) -> str:
    """``url`` without its trailing slashes, when it can be the published address of a catalog folder:
    http(s), s3 or gs, with a host or bucket, no query, fragment or whitespace."""
    text = str(url).strip()
    parts = urlsplit(text)
    problem = None
    if parts.scheme not in BASE_URL_SCHEMES:
        problem = f"the scheme must be one of {', '.join(BASE_URL_SCHEMES)}"
    elif not parts.netloc:
        problem = "it names no host or bucket"
    elif parts.query or parts.fragment or "?" in text or "#" in text:
        problem = "it must not have a query or fragment"
    elif any(c.isspace() for c in text):
        problem = "it must not contain spaces"
    if problem:
        raise InputError(f"--base-url {url!r}: {problem}. Give the URL the catalog folder will be published at, "
                         "e.g. https://data.example.org/ftw/NAME-chips or s3://bucket/ftw/NAME-chips.")
    return text.rstrip("/")
