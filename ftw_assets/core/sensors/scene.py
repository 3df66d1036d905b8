"""A scene of any sensor (:class:`SensorScene`) and its bands, as :func:`.items.sensor_scene_from_item`
builds them from STAC items, and the error that says why an item cannot be one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import shape

from ftw_assets.core.scenes.model import SceneError
from ftw_assets.core.sensors.config import SENSORS
from ftw_assets.core.sensors.quality import PixelClass
from ftw_assets.core.sensors.spec import Backscatter, SensorConfig


class SensorSceneError(SceneError):
    """A STAC item cannot be used as a scene of a known sensor (unknown collection, no usable band...)."""


@dataclass(frozen=True)
class SensorBand:
    """One band of one scene: where to read it and how to turn and resample its values."""

    name: str
    asset_key: str
    href: str
    dtype: str
    nodata: float | None
    scale: float
    offset: float
    resampling: str
    native_resolution: float
    unit: str = ""


@dataclass(frozen=True)
class SensorScene:
    """A scene of any sensor. ``datetime`` is UTC (the start of the interval when an item has only
    one); ``epsg`` is None when the item does not say; optical scenes have ``cloud_cover``, radar
    ones ``orbit_state``, ``polarizations`` (upper case, as ``sar:polarizations``) and ``backscatter``."""

    id: str
    sensor: str
    provider: str
    collection: str
    datetime: dt.datetime
    bbox: tuple[float, float, float, float]
    geometry: dict[str, Any]
    bands: dict[str, SensorBand]
    epsg: int | None = None
    start_datetime: dt.datetime | None = None
    end_datetime: dt.datetime | None = None
    platform: str | None = None
    constellation: str | None = None
    cloud_cover: float | None = None
    orbit_state: str | None = None
    relative_orbit: int | None = None
    polarizations: tuple[str, ...] = ()  # those of sar:polarizations that have a band
    backscatter: Backscatter | None = None
    grid_code: str | None = None
    mgrs_tile: str | None = None
    wrs_path: str | None = None
    wrs_row: str | None = None
    classes: tuple[PixelClass, ...] = ()
    boa_offset: int = 0  # Sentinel-2: DN to subtract for the pre-04.00 convention
    harmonization: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)  # Sentinel-1 GRD calibration/noise XML hrefs
    item: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def config(self) -> SensorConfig:
        return SENSORS[self.sensor]

    @property
    def footprint(self) -> shapely.Geometry:
        return shape(self.geometry)

    @property
    def backscatter_in_db(self) -> bool | None:
        """True/False for radar scenes (no provider here serves dB), None for other sensors."""
        return None if self.backscatter is None else self.backscatter.in_db

    def href(self, band: str) -> str:
        try:
            return self.bands[band].href
        except KeyError:
            raise SensorSceneError(f"scene {self.id} has no {band!r} band (it has {', '.join(self.bands)})") from None

    def record(self) -> dict[str, Any]:
        """A flat row (for DuckDB tables, reports and Dagster metadata)."""
        return {
            "scene_id": self.id, "sensor": self.sensor, "provider": self.provider, "collection": self.collection,
            "datetime": self.datetime.isoformat(), "epsg": self.epsg, "platform": self.platform,
            "cloud_cover": self.cloud_cover, "orbit_state": self.orbit_state,
            "polarizations": ",".join(self.polarizations),
            "backscatter": f"{self.backscatter.quantity} {self.backscatter.scale}" if self.backscatter else None,
            "grid_code": self.grid_code, "bands": ",".join(self.bands), "bbox": ",".join(map(str, self.bbox)),
            "footprint_wkt": self.footprint.wkt,
        }
