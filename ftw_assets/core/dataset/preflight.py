"""The one check of a dataset's inputs, before anything is written.

``ftwd create-dataset`` calls :func:`plan_dataset` before it creates the output folder: the
options, the output folder, the fields file (read, repaired, its year) and the chip table it
yields are all checked here, so a bad input exits with one message and leaves nothing behind.
The chip assets call the same functions (:func:`plan_chips`, :func:`check_fields_unchanged`), so
the Dagster UI refuses the same inputs with the same words.
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd

from ftw_assets.core.dataset.settings import SETTINGS_FILE, DatasetSettings
from ftw_assets.core.errors import EnvironmentProblem, InputError
from ftw_assets.core.geometry.fields import FieldReport, read_fields, resolve_year
from ftw_assets.core.geometry.grid import assign_splits, build_chips, parse_split_percents


@dataclass
class Plan:
    """What a dataset will be made of: its settings (with the fields file's hash), fields, year and chips."""

    settings: DatasetSettings
    fields: gpd.GeoDataFrame
    report: FieldReport
    year: int
    chips: gpd.GeoDataFrame


def plan_dataset(settings: DatasetSettings, output_dir: Path) -> Plan:
    """Check everything ``create-dataset`` is given; raise :class:`InputError` or
    :class:`EnvironmentProblem` (what, why, what to do) before anything is written."""
    output_dir = Path(output_dir)
    check_output_dir(output_dir)
    stored = DatasetSettings.load(output_dir) if (output_dir / SETTINGS_FILE).exists() else None
    if stored is not None:
        changed = stored.differs_from(settings)
        if changed:
            raise InputError(
                f"{output_dir} already holds a dataset made with different {', '.join(changed)}. "
                "Rerun with the same options to resume it, or choose a new OUTPUT_DIR."
            )
    check_scene_file(settings)
    fields, report = read_fields(settings.fields, settings.layer)
    settings.fields_sha256 = file_sha256(settings.fields)
    if stored is not None:
        check_fields_unchanged(stored, settings.fields_sha256)
    year = resolve_year(fields, settings.year, settings.fields)
    chips = plan_chips(fields, settings)
    return Plan(settings, fields, report, year, chips)


_PLANNED: dict[tuple, gpd.GeoDataFrame] = {}  # the last chip table planned in this process, by its inputs


def plan_chips(fields: gpd.GeoDataFrame, settings: DatasetSettings) -> gpd.GeoDataFrame:
    """The chip table: cells with at least ``--min-coverage`` of fields, each with its split. The
    table planned for the same field file (by content) and options is reused: ``create-dataset``
    plans it while checking its inputs and ``chip_registry`` again in the same process (the
    coverage of every cell costs seconds at a few hundred chips)."""
    key = (settings.fields_sha256, settings.layer, len(fields), settings.cell_km, settings.min_coverage, settings.split_type,
           str(settings.split_percents), settings.seed)
    if settings.fields_sha256 and key in _PLANNED:
        return _PLANNED[key].copy()
    chips = _plan_chips(fields, settings)
    if settings.fields_sha256:
        _PLANNED.clear()
        _PLANNED[key] = chips.copy()
    return chips


def _plan_chips(fields: gpd.GeoDataFrame, settings: DatasetSettings) -> gpd.GeoDataFrame:
    cells = build_chips(fields, settings.cell_km, 0.0)
    chips = cells[cells["coverage"] >= settings.min_coverage].reset_index(drop=True) if len(cells) else cells
    if chips.empty:
        best = (f"the best-covered cell, {cells.loc[cells['coverage'].idxmax(), 'chip_id']}, has "
                f"{cells['coverage'].max():.2f} %" if len(cells) else "no cell holds a field pixel")
        raise InputError(
            f"{settings.fields}: no {settings.cell_km} km cell has at least {settings.min_coverage:g} % field coverage "
            f"({best}). Lower --min-coverage or check the field file."
        )
    chips["split"] = assign_splits(chips, settings.split_type, parse_split_percents(settings.split_percents),
                                   settings.seed)
    return chips


def check_fields_unchanged(settings: DatasetSettings, sha256: str | None = None) -> None:
    """Refuse a fields file whose content changed since the dataset was made from it: its chips and
    masks would mix the old and the new fields."""
    if not settings.fields_sha256:
        return  # made before hashes were recorded
    sha256 = sha256 or file_sha256(settings.fields)
    if sha256 != settings.fields_sha256:
        raise InputError(
            f"{settings.fields} changed since this dataset was made from it (sha256 {settings.fields_sha256[:12]}… "
            f"recorded in {SETTINGS_FILE}, {sha256[:12]}… now); its chips and masks were built from the old "
            "content. Build the new file into a new OUTPUT_DIR, or restore the old file to resume this dataset."
        )


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file, or of every file under a folder (a File Geodatabase), in name order."""
    path = Path(path)
    digest = hashlib.sha256()
    for part in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
        with open(part, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def check_scene_file(settings: DatasetSettings) -> None:
    """A ``--stac-host`` that is a local stac-geoparquet file is read now (its schema only), even when no
    scenes are selected yet: a dataset must not record a source it cannot search. APIs are not
    contacted here (a masks-only dataset needs no network)."""
    from ftw_assets.core.scenes.sources import open_source

    host = settings.stac_host
    if "://" not in host and Path(host).is_absolute():
        open_source(host, settings.collection)


def check_output_dir(output_dir: Path) -> None:
    """The output folder can be made and written: not a file, not under a file, not read-only."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(f"{output_dir} is a file, not a folder. Give a folder (new or a dataset's) as OUTPUT_DIR.")
    existing = next(p for p in (output_dir, *output_dir.parents) if p.exists())
    if not existing.is_dir():
        raise EnvironmentProblem(
            f"{output_dir} cannot be made: {existing} is a file, not a folder. Choose an OUTPUT_DIR elsewhere.")
    if not os.access(existing, os.W_OK | os.X_OK):
        why = "is on a read-only file system" if _read_only(existing) else "is not writable by this user"
        raise EnvironmentProblem(
            f"{output_dir} cannot be written: {existing} {why}. Choose an OUTPUT_DIR you can write to"
            f"{' (or remount the disk read-write)' if why.startswith('is on') else ''}.")


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError as err:
        return err.errno == errno.EROFS
