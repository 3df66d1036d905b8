"""A chip-year's images of one sensor: for each of its seasons (``static`` for DEM and land cover),
read the chosen scene(s) onto the chip grid, write the image COG (and Landsat's ``qa_pixel`` beside it),
the thumbnail and the child item, and return what was done as a record entry. No Dagster here.

Files in the chip-year folder (``{chip}_{year}_`` prefix): ``{season}_image_{sensor}.tif``,
``{season}_qa_{sensor}.tif``, ``{season}_image_{sensor}.png``, ``{season}_{sensor}.json``; a static
sensor has no ``{season}_``. The record is ``state/{chip}_{year}/sensor_{sensor}.json``.
"""

from __future__ import annotations

import json
from typing import Callable

import numpy as np

from ftw_assets.core.atomic import write_text
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.geometry.grid import ChipGrid
from ftw_assets.core.raster.thumbnail import write_picture
from ftw_assets.core.raster.windows import RetryPolicy
from ftw_assets.core.sensors.choice import STATIC, SensorChoice
from ftw_assets.core.sensors.config import sensor_config
from ftw_assets.core.sensors.pictures import picture
from ftw_assets.core.sensors.read import SensorChip, read_sensor_chip, write_sensor_chip
from ftw_assets.core.sensors.stac import sensor_item, sensor_item_id
from ftw_assets.core.stac.items import item_dict, write_item
from ftw_assets.core.stac.validation import validate_stac

# The bands written per sensor (Sentinel-1: the scene's polarisations); Landsat's thermal band (kelvin)
# stays out of its reflectance image. The quality layer goes to a file of its own.
IMAGE_BANDS = {"landsat": ("blue", "green", "red", "nir08", "swir16", "swir22"), "dem": ("elevation",),
               "landcover": ("landcover",)}


def image_bands(sensor: str, choice: SensorChoice) -> tuple[str, ...]:
    cfg = sensor_config(sensor)
    scene = choice.scenes[0]
    bands = tuple(p.lower() for p in scene.polarizations) if cfg.name == "s1" else IMAGE_BANDS[cfg.name]
    layer = cfg.quality_layer.band if cfg.quality_layer is not None else None
    return bands + ((layer,) if layer and layer not in bands else ())


def prefix(season: str) -> str:
    return "" if season == STATIC else f"{season}_"


def write_sensor_season(layout: Layout, chip_year: ChipYear, grid: ChipGrid, sensor: str, choice: SensorChoice,
                        source_label: str, via_href: Callable, href_for_read: Callable[[str], str] | None,
                        policy: RetryPolicy, base_url: str | None, collection_id: str) -> dict:
    """Read, write and describe one chip-season (``choice`` must have scenes); its record entry."""
    cfg = sensor_config(sensor)
    chip = read_sensor_chip(choice.scenes, grid, image_bands(cfg.name, choice), href_for_read, policy)
    c, y, p = chip_year.chip, chip_year.year, prefix(choice.season)
    image_bands_ = chip.continuous() or chip.categorical()
    files = {"image": write_sensor_chip(chip, image_bands_, layout.chip_file(c, y, f"{p}image_{cfg.name}.tif")).name,
             "quality": None, "thumbnail": None}
    if chip.continuous() and chip.categorical():
        quality = layout.chip_file(c, y, f"{p}qa_{cfg.name}.tif")
        files["quality"] = write_sensor_chip(chip, chip.categorical(), quality).name
    pic = picture(chip)
    if pic is not None:
        files["thumbnail"] = write_picture(layout.chip_file(c, y, f"{p}image_{cfg.name}.png"), pic).name
    item = sensor_item(chip_year, grid, cfg.name, choice, chip, files, source_label,
                       [via_href(s) for s in choice.scenes])
    item.collection_id = collection_id
    validate_stac(item_dict(item))
    item_path = layout.chip_file(c, y, f"{p}{cfg.name}.json")
    write_item(item, item_path, base_url=base_url)
    return {**choice.summary(), "status": "written", "item": item_path.name, **files, **band_stats(chip, image_bands_)}


def band_stats(chip: SensorChip, bands) -> dict:
    """The chip's nodata share, per band min/max/std of the valid pixels, and class counts of a class band."""
    out: dict = {"nodata_share": round(chip.nodata_share(bands), 6), "bands": {}}
    for band in bands:
        values = chip.layers[band]
        valid = values[~_missing(values, chip.nodata[band])]
        out["bands"][band] = ({"min": float(valid.min()), "max": float(valid.max()), "std": float(valid.std())}
                              if valid.size else {})
    classes = sensor_config(chip.sensor).classes
    if classes and chip.categorical():
        values, counts = np.unique(chip.layers[chip.categorical()[0]], return_counts=True)
        known = {c.value for c in classes}
        out["class_counts"] = {str(int(v)): int(n) for v, n in zip(values, counts) if int(v) in known}
    return out


def _missing(values, nodata):
    gone = np.isnan(values) if values.dtype.kind == "f" else np.zeros(values.shape, dtype=bool)
    return gone | (values == nodata) if nodata is not None and not np.isnan(nodata) else gone


RECORD = "sensor_{}.json"


def save_record(layout: Layout, chip_year: ChipYear, sensor: str, seasons: dict[str, dict]) -> None:
    path = layout.state_file(chip_year.chip, chip_year.year, RECORD.format(sensor))
    write_text(path, json.dumps({"sensor": sensor, "seasons": seasons}, indent=1, sort_keys=True) + "\n")


def load_record(layout: Layout, chip_year: ChipYear, sensor: str) -> dict | None:
    path = layout.state_file(chip_year.chip, chip_year.year, RECORD.format(sensor))
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def forget_season(layout: Layout, chip_year: ChipYear, sensor: str, season: str) -> None:
    """Remove an earlier chip-season's files (its scene is no longer chosen)."""
    c, y, p = chip_year.chip, chip_year.year, prefix(season)
    for suffix in (f"{p}image_{sensor}.tif", f"{p}qa_{sensor}.tif", f"{p}image_{sensor}.png", f"{p}{sensor}.json"):
        layout.chip_file(c, y, suffix).unlink(missing_ok=True)


def item_ids_on_disk(layout: Layout, chip_year: ChipYear, sensors) -> list[str]:
    """The sensor child items of the chip-year that exist, for the parent's ``related`` links."""
    from ftw_assets.core.sensors.choice import seasons_of

    found = []
    for sensor in sensors:
        for season in seasons_of(sensor):
            item_id = sensor_item_id(chip_year, sensor, season)
            if (layout.chip_dir(chip_year.chip, chip_year.year) / f"{item_id}.json").exists():
                found.append(item_id)
    return found
