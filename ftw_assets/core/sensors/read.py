"""Reading a sensor's bands for one chip onto the chip's pixel grid (the masks' grid) with odc-stac.

:func:`read_sensor_chip` hands the scenes' STAC items to ``odc.stac.load`` with the chip grid as the
GeoBox, so Landsat's 30 m UTM pixels, the DEM's and WorldCover's EPSG:4326 pixels and radar are warped
onto the 10 m chip grid in one call; each band is resampled as :data:`~.config.SENSORS` says
(bilinear for continuous values, nearest for classes and quality bits) and several scenes (DEM tiles,
a WorldCover tile edge) are mosaicked into one plane, the first valid pixel winning.

Remote hrefs are read through the project's GDAL settings (:func:`~ftw_assets.core.raster.windows.gdal_env`)
and retried like every other read. Continuous bands come back as float32 in physical units (the
scene's scale and offset applied, nodata as NaN); class and quality bands keep their delivered type and
nodata, so no class or bit is changed. No Dagster here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from rasterio.errors import RasterioIOError

from ftw_assets.core.geometry.grid import ChipGrid
from ftw_assets.core.raster.cog import write_cog
from ftw_assets.core.raster.windows import RETRIES, RetryPolicy, WindowReadError, gdal_env, read_error_reason, redact
from ftw_assets.core.sensors.scene import SensorBand, SensorScene, SensorSceneError
from ftw_assets.core.sensors.spec import NEAREST

PHYSICAL_NODATA = float("nan")  # the nodata of a continuous band once scaled to physical units


@dataclass
class SensorChip:
    """One sensor's bands on a chip grid. ``layers`` maps a band name to its (rows, cols) array:
    float32 physical values for continuous bands, the delivered type for class/quality bands.
    ``resampling``, ``scale`` and ``offset`` record per band what was done to the source pixels."""

    sensor: str
    grid: ChipGrid
    scene_ids: tuple[str, ...]
    layers: dict[str, np.ndarray]
    nodata: dict[str, float | None]
    resampling: dict[str, str]
    scale: dict[str, float] = field(default_factory=dict)
    offset: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    reprojected: bool = True

    def continuous(self) -> tuple[str, ...]:
        return tuple(b for b, r in self.resampling.items() if r != NEAREST)

    def categorical(self) -> tuple[str, ...]:
        return tuple(b for b, r in self.resampling.items() if r == NEAREST)

    def stack(self, bands: Sequence[str]) -> np.ndarray:
        return np.stack([self.layers[b] for b in bands])

    def nodata_share(self, bands: Sequence[str] | None = None) -> float:
        """Share (0-1) of pixels with no value in any of ``bands`` (default: all)."""
        missing = np.zeros((self.grid.height, self.grid.width), dtype=bool)
        for band in bands or tuple(self.layers):
            missing |= _missing(self.layers[band], self.nodata[band])
        return float(missing.mean())


def read_sensor_chip(scenes: Sequence[SensorScene], grid: ChipGrid, bands: Sequence[str] | None = None,
                     href_for_read: Callable[[str], str] | None = None,
                     policy: RetryPolicy = RetryPolicy()) -> SensorChip:
    """``bands`` (default: every band the first scene has) of ``scenes`` on ``grid``, mosaicked in the
    given order (the first scene's valid pixels win). ``href_for_read`` turns a saved href into one to
    open (Planetary Computer signs it). Raises :class:`WindowReadError` when the files cannot be read
    within the retry budget, :class:`SensorSceneError` when a scene lacks a band."""
    if not scenes:
        raise ValueError("read_sensor_chip needs at least one scene")
    first = scenes[0]
    names = tuple(bands or first.bands)
    specs = {name: _band(first, name) for name in names}
    for scene in scenes[1:]:
        for name in names:
            _band(scene, name)
    raw = _load(scenes, grid, specs, href_for_read, policy)
    layers, nodata = {}, {}
    for name, spec in specs.items():
        if spec.resampling == NEAREST:
            layers[name], nodata[name] = raw[name].astype(spec.dtype, copy=False), spec.nodata
        else:
            layers[name], nodata[name] = _physical(raw[name], spec), PHYSICAL_NODATA
    return SensorChip(
        first.sensor, grid, tuple(s.id for s in scenes), layers, nodata,
        resampling={n: s.resampling for n, s in specs.items()},
        scale={n: s.scale for n, s in specs.items() if s.resampling != NEAREST},
        offset={n: s.offset for n, s in specs.items() if s.resampling != NEAREST},
        units={n: s.unit for n, s in specs.items()},
        reprojected=not all(_on_grid(s, grid) for s in scenes),
    )


def write_sensor_chip(chip: SensorChip, bands: Sequence[str], path: str | Path) -> Path:
    """Write ``bands`` of ``chip`` (all continuous, or all of one class/quality type) as one COG, atomically.
    Tags record per band the resampling, scale and offset applied and the unit."""
    kinds = {chip.resampling[b] == NEAREST for b in bands}
    if len(kinds) != 1:
        raise ValueError(f"{list(bands)}: write continuous and class/quality bands to separate files")
    data = chip.stack(bands)
    nodata = chip.nodata[bands[0]]
    tags = {f"{b}_resampling": chip.resampling[b] for b in bands}
    tags |= {f"{b}_unit": chip.units.get(b, "") for b in bands}
    tags |= {f"{b}_scale_offset_applied": f"{chip.scale[b]:g},{chip.offset[b]:g}" for b in bands if b in chip.scale}
    tags |= {"sensor": chip.sensor, "scenes": ",".join(chip.scene_ids)}
    return write_cog(path, data, chip.grid, nodata=nodata, descriptions=list(bands), tags=tags)


def _band(scene: SensorScene, name: str) -> SensorBand:
    try:
        return scene.bands[name]
    except KeyError:
        raise SensorSceneError(f"scene {scene.id} has no {name!r} band (it has {', '.join(scene.bands)})") from None


def _load(scenes, grid: ChipGrid, specs: dict[str, SensorBand], href_for_read, policy: RetryPolicy) -> dict:
    """The raw (delivered values) bands on ``grid``, one plane per band, retried as a whole on read errors."""
    import odc.stac
    import pystac
    from odc.geo.geobox import GeoBox

    geobox = GeoBox((grid.height, grid.width), grid.transform, grid.crs)
    items = [pystac.Item.from_dict(_item_for_load(s, specs), preserve_dict=True, migrate=False) for s in scenes]
    keys = {name: spec.asset_key for name, spec in specs.items()}
    delays, last = list(policy.delays()), None
    for attempt in range(len(delays) + 1):
        try:
            with gdal_env(policy):
                data = odc.stac.load(
                    items, bands=list(keys.values()), geobox=geobox, groupby=_one_plane,
                    resampling={keys[n]: s.resampling for n, s in specs.items()},
                    dtype={keys[n]: s.dtype if s.resampling == NEAREST else "float32" for n, s in specs.items()},
                    patch_url=href_for_read, preserve_original_order=True, pool=None)
            return {name: data[key].values[0] for name, key in keys.items()}
        except RasterioIOError as exc:
            last = exc
            if attempt < len(delays):
                RETRIES["read"] += 1
                time.sleep(delays[attempt])
    hrefs = ", ".join(redact(s.href(next(iter(specs)))) for s in scenes)
    raise WindowReadError(f"reading {scenes[0].sensor} scene(s) {hrefs} for a chip failed after {policy.attempts} "
                          f"attempts: {read_error_reason(last)}. Check that the host is reachable, then rerun.")


def _item_for_load(scene: SensorScene, specs: dict[str, SensorBand]) -> dict:
    """The scene's item as odc-stac reads it: the parsed hrefs (made absolute by the source), each
    band's nodata as parsed, and a datetime (WorldCover items have only an interval)."""
    item = dict(scene.item or {"type": "Feature", "stac_version": "1.0.0", "id": scene.id, "links": []})
    item["geometry"], item["bbox"] = scene.geometry, list(scene.bbox)
    props = dict(item.get("properties") or {})
    props["datetime"] = scene.datetime.isoformat().replace("+00:00", "Z")
    item["properties"] = props
    assets = dict(item.get("assets") or {})
    for spec in specs.values():
        asset = dict(assets.get(spec.asset_key) or {})
        asset["href"] = spec.href
        band = dict((asset.get("raster:bands") or [{}])[0])
        band.update(data_type=spec.dtype)
        if spec.nodata is not None:
            band["nodata"] = spec.nodata
        asset["raster:bands"] = [band]
        asset.setdefault("roles", ["data"])
        asset.setdefault("type", "image/tiff; application=geotiff; profile=cloud-optimized")
        assets[spec.asset_key] = asset
    item["assets"] = assets
    return item


def _one_plane(item, parsed, index) -> int:
    """odc-stac groupby: every scene into one plane (a mosaic of tiles, or one scene)."""
    return 0


def _physical(raw: np.ndarray, spec: SensorBand) -> np.ndarray:
    out = raw.astype(np.float32) * np.float32(spec.scale) + np.float32(spec.offset)
    out[_missing(raw, spec.nodata)] = np.nan
    return out


def _missing(values: np.ndarray, nodata: float | None) -> np.ndarray:
    if values.dtype.kind == "f":
        gone = np.isnan(values)
        return gone | (values == nodata) if nodata is not None and not np.isnan(nodata) else gone
    return values == nodata if nodata is not None else np.zeros(values.shape, dtype=bool)


def _on_grid(scene: SensorScene, grid: ChipGrid) -> bool:
    """Whether the scene's pixels are already the grid's (same EPSG, 10 m), so no reprojection happens."""
    return scene.epsg == grid.epsg and all(b.native_resolution == grid.res for b in scene.bands.values())
