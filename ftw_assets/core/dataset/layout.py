"""Where each file of a dataset lives. Every path comes from grid-made chip ids only and is checked to
stay inside the output folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ftw_assets.core.atomic import inside
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.files import DAGSTER_HOME
from ftw_assets.core.geometry.grid import parse_chip_id


@dataclass(frozen=True)
class Layout:
    """Where each file of a dataset lives under ``output_dir``."""

    output_dir: Path
    name: str

    @property
    def dagster_home(self) -> Path:
        return self.output_dir / DAGSTER_HOME

    @property
    def fields_parquet(self) -> Path:
        return self.output_dir / "fields.parquet"

    @property
    def duckdb(self) -> Path:
        return self.output_dir / "ftw.duckdb"

    @property
    def catalog_dir(self) -> Path:
        return self.output_dir / f"{self.name}-chips"

    @property
    def chips_parquet(self) -> Path:
        return self.catalog_dir / "chips.parquet"

    @property
    def instance_ids_csv(self) -> Path:
        return self.catalog_dir / "instance_ids.csv"

    @property
    def collection_json(self) -> Path:
        return self.catalog_dir / "collection.json"

    @property
    def items_parquet(self) -> Path:
        """The stac-geoparquet index: a folder of one file per MGRS tile, ``items.parquet/{tile}.parquet``."""
        return self.catalog_dir / "items.parquet"

    @property
    def tiles_dir(self) -> Path:
        """The per-tile catalogs the collection links once the chips span more than one MGRS tile."""
        return self.catalog_dir / "tiles"

    def tile_catalog(self, tile: str) -> Path:
        return inside(self.catalog_dir, self.tiles_dir / tile / "catalog.json")

    def chip_dir(self, chip: str, year: int) -> Path:
        parse_chip_id(chip)  # only grid-made ids name folders
        return inside(self.catalog_dir, self.catalog_dir / ChipYear(chip, year).stem)

    def chip_file(self, chip: str, year: int, suffix: str) -> Path:
        return inside(self.catalog_dir, self.chip_dir(chip, year) / f"{ChipYear(chip, year).stem}_{suffix}")

    @property
    def state_dir(self) -> Path:
        """Per chip-year working records (crop calendar, selection) that items are built from."""
        return self.output_dir / "state"

    def state_file(self, chip: str, year: int, name: str) -> Path:
        parse_chip_id(chip)
        return inside(self.state_dir, self.state_dir / ChipYear(chip, year).stem / name)

    @property
    def selection_report(self) -> Path:
        return self.catalog_dir / "selection_report.json"

    @property
    def refinement_report(self) -> Path:
        return self.catalog_dir / "refinement_report.json"

    @property
    def download_report(self) -> Path:
        return self.catalog_dir / "download_report.json"

    def season_item_json(self, chip: str, year: int, season: str) -> Path:
        if season not in ("planting", "harvest"):
            raise ValueError(f"unknown season {season!r}")
        return inside(self.catalog_dir, self.chip_dir(chip, year) / f"{ChipYear(chip, year).stem}_{season}_s2.json")

    def item_json(self, chip: str, year: int) -> Path:
        return inside(self.catalog_dir, self.chip_dir(chip, year) / f"{ChipYear(chip, year).stem}.json")
