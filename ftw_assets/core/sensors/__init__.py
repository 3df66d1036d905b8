"""Sensors beyond Sentinel-2 (Sentinel-1, Landsat, elevation, land cover): the per-sensor band
table (:mod:`.config`, its types in :mod:`.spec`), what their quality and class layers mean
(:mod:`.quality`) and one scene model over all of them (:mod:`.scene`, parsed from STAC items by
:mod:`.items`). No Dagster here.

The pipeline's part: :mod:`.search` (a sensor's source for a dataset's ``--stac-host``, and its search),
:mod:`.choice` (which scenes each chip-season gets, one search per tile x window), :mod:`.read` (the
bands onto the chip grid, warped with GDAL from open files), :mod:`.images` (a chip-year's files,
record and child item, with :mod:`.stac` and :mod:`.pictures`), :mod:`.checks` (the quality checks per modality),
:mod:`.homogeneity` (the land-cover filter) and :mod:`.report` (their part of the QA report).

:mod:`.scene` and :mod:`.items` are imported on first use: they build on the Sentinel-2 scene model,
which itself reads its bands from :mod:`.config`, so importing them eagerly here would be circular.
"""

from __future__ import annotations

from ftw_assets.core.sensors.config import (
    DN_AMPLITUDE, GAMMA0_POWER, OUTPUT_RESOLUTION, SENSOR_NAMES, SENSORS, Backscatter, BandSpec, CollectionSpec,
    QualityChecks, QualityLayer, SensorConfig, sensor_config, sensor_for_collection, sensors_from_option,
)
from ftw_assets.core.sensors.quality import (
    QA_PIXEL_FLAGS, SCL_CLASSES, WORLDCOVER_CLASSES, BitFlag, PixelClass, qa_pixel_mask, to_db,
)

_ITEMS = ("SensorBand", "SensorScene", "SensorSceneError", "detect_sensor", "sensor_scene_from_item")


def __getattr__(name: str):
    if name in _ITEMS:
        from ftw_assets.core.sensors import items

        return getattr(items, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DN_AMPLITUDE", "GAMMA0_POWER", "OUTPUT_RESOLUTION", "SENSOR_NAMES", "SENSORS", "Backscatter", "BandSpec",
    "CollectionSpec", "QualityChecks", "QualityLayer", "SensorConfig", "sensor_config", "sensor_for_collection",
    "sensors_from_option", "QA_PIXEL_FLAGS", "SCL_CLASSES", "WORLDCOVER_CLASSES", "BitFlag", "PixelClass",
    "qa_pixel_mask", "to_db", *_ITEMS,
]
